"""The bottom layer: the version guard, the checkpoint-loading fix, strict arguments.

Importing this package imports only the standard library (and ``packaging``),
so that ``ssd_plugin/__init__`` can run the version guard before torch,
mmengine, mmcv or mmdet is imported; ``checkpoint_compat`` is imported (and
applied) by ``ssd_plugin/__init__`` after the guard. Nothing here imports the
rest of the package (``register_all_modules`` is ``ssd_plugin.setup_env``'s).
"""

from .version_guard import check_dependencies

__all__ = ['check_dependencies']
