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

from .utils import checkpoint_compat  # noqa: E402

checkpoint_compat.apply()

from . import datasets, engine, fileio, models  # noqa: E402  (registers components)
from .utils import register_all_modules  # noqa: E402

__all__ = ['__version__', 'datasets', 'engine', 'fileio', 'models', 'register_all_modules']
