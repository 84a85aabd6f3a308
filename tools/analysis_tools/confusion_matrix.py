"""Confusion matrix (PNG) of saved test predictions.

mmdet's ``tools/analysis_tools/confusion_matrix.py`` (installed in ``mmdet/.mim/``), run with
the plugin registered and this stack's gaps bridged (``ssd_plugin.apis.mmdet_analysis_tool``);
the command line is mmdet's. See docs/analysis_tools.md.

Example::

    python tools/test.py CONFIG CKPT --out preds.pkl
    python tools/analysis_tools/confusion_matrix.py CONFIG preds.pkl OUT_DIR --score-thr 0.3
"""

import sys

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

if __name__ == '__main__':
    sys.exit(run_mmdet_tool('confusion_matrix'))
