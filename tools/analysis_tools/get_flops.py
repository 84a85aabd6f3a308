"""FLOPs and parameter count of a config's model, on its validation images.

mmdet's ``tools/analysis_tools/get_flops.py`` (installed in ``mmdet/.mim/``), run with
the plugin registered and this stack's gaps bridged (``ssd_plugin.apis.mmdet_analysis_tool``);
the command line is mmdet's. See docs/analysis_tools.md.

Example::

    python tools/analysis_tools/get_flops.py CONFIG --num-images 10
"""

import sys

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

if __name__ == '__main__':
    sys.exit(run_mmdet_tool('get_flops'))
