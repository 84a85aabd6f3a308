"""The bottom layer: the version guard, the checkpoint-loading fix, strict arguments.

Importing this package imports only the standard library (and ``packaging``),
so that ``ssd_plugin/__init__`` can run the version guard before torch,
mmengine, mmcv or mmdet is imported. :func:`register_all_modules` imports the
library inside the function, as mmdet's does, and ``checkpoint_compat`` is
imported (and applied) by ``ssd_plugin/__init__`` after the guard.
"""

from .setup_env import register_all_modules
from .version_guard import check_dependencies

__all__ = ['check_dependencies', 'register_all_modules']
