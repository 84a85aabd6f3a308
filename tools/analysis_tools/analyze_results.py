"""Draw the top-k best and worst images (by per-image mAP) of saved test predictions.

mmdet's ``tools/analysis_tools/analyze_results.py`` (installed in ``mmdet/.mim/``), run with
the plugin registered and this stack's gaps bridged (``ssd_plugin.apis.mmdet_analysis_tool``);
the command line is mmdet's. See docs/analysis_tools.md.

Example::

    python tools/test.py CONFIG CKPT --out preds.pkl
    python tools/analysis_tools/analyze_results.py CONFIG preds.pkl OUT_DIR --topk 10
"""

import sys

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

if __name__ == '__main__':
    sys.exit(run_mmdet_tool('analyze_results'))
