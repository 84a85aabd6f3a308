"""ssd_plugin: SSD (Liu et al., 2016) as MMDetection 3.x registered components.

Importing the package checks the OpenMMLab versions it was written against and
registers every plugin component under the ``ssd_plugin`` scope. It also
teaches mmengine the ``ssd_plugin::`` config prefix (``_ssd_plugin_mim``; an
installed wheel does that at interpreter start, an editable install here).
"""

import _ssd_plugin_mim

from .utils.version_guard import check_dependencies
from .version import __version__

check_dependencies()
_ssd_plugin_mim.install()

from . import datasets, engine, fileio, models  # noqa: E402  (registers components)
from .utils import register_all_modules  # noqa: E402

__all__ = ['__version__', 'datasets', 'engine', 'fileio', 'models', 'register_all_modules']
