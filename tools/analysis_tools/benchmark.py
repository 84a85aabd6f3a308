"""Inference FPS of a checkpoint (or the data loader's / dataset's speed).

mmdet's ``tools/analysis_tools/benchmark.py`` (installed in ``mmdet/.mim/``), run with
the plugin registered and this stack's gaps bridged (``ssd_plugin.apis.mmdet_analysis_tool``);
the command line is mmdet's. See docs/analysis_tools.md.

Example::

    python tools/analysis_tools/benchmark.py CONFIG --checkpoint CKPT --task inference \\
        --max-iter 200
"""

import sys

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

if __name__ == '__main__':
    sys.exit(run_mmdet_tool('benchmark'))
