"""Plot loss and mAP curves of training runs, or their time per iteration.

mmdet's ``tools/analysis_tools/analyze_logs.py`` (installed in ``mmdet/.mim/``), run with
the plugin registered and this stack's gaps bridged (``ssd_plugin.apis.mmdet_analysis_tool``);
the command line is mmdet's. See docs/analysis_tools.md.

Example::

    python tools/analysis_tools/analyze_logs.py plot_curve WORK_DIR --keys loss --out loss.png
    python tools/analysis_tools/analyze_logs.py plot_curve WORK_DIR --keys bbox_mAP --out map.png
    python tools/analysis_tools/analyze_logs.py cal_train_time WORK_DIR

WORK_DIR (a directory) stands for its newest ``*/vis_data/scalars.json``.
"""

import sys

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

if __name__ == '__main__':
    sys.exit(run_mmdet_tool('analyze_logs'))
