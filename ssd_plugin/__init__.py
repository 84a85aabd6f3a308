"""ssd_plugin: SSD (Liu et al., 2016) as MMDetection 3.x registered components.

Importing the package checks the OpenMMLab versions it was written against and
registers every plugin component under the ``ssd_plugin`` scope. It also
teaches mmengine the ``ssd_plugin::`` config prefix (``_ssd_plugin_mim``; an
installed wheel does that at interpreter start, an editable install here).
"""

# The version guard first: nothing above it imports torch, mmengine, mmcv or mmdet.
from .utils.version_guard import check_dependencies
from .version import __version__

check_dependencies()

import _ssd_plugin_mim  # noqa: E402

_ssd_plugin_mim.install()

from .utils import checkpoint_compat, mmdet_ssd_head_compat  # noqa: E402

# Fixes of mmengine 0.10.7 and mmdet 3.3.0 (docs/architecture.md, "Patches").
checkpoint_compat.apply()
mmdet_ssd_head_compat.apply()

from . import datasets, engine, evaluation, fileio, models  # noqa: E402  (registers components)
from .setup_env import register_all_modules  # noqa: E402

__all__ = [
    '__version__',
    'datasets',
    'engine',
    'evaluation',
    'fileio',
    'models',
    'register_all_modules',
]
