"""Teaches mmengine the ``ssd_plugin::`` config prefix (OpenMMLab's ``pkg::``).

An installed ``ssd_plugin`` ships its configs in ``ssd_plugin/.mim/configs``,
the layout mmdet and mmyolo use. mmengine 0.10.7 resolves ``pkg::path``
there, but

* only for the OpenMMLab packages it lists (``MODULE2PACKAGE``; any other
  prefix fails an ``assert``),
* only when ``path`` has a folder (``re.match(r'\\w*::\\w*/\\w*')``: so
  ``ssd_plugin::ssd300_coco.py`` is refused),
* and not at all in ``Config.fromfile``, which opens the string as a file.

The wheel puts ``ssd_plugin_mim.pth`` in site-packages; Python runs its one
line, ``install()``, at start-up. That imports nothing but this module (the
standard library): it arranges for :func:`patch` to run right after
``mmengine.config.config`` is first executed. :func:`patch` changes how
mmengine reads names starting with ``ssd_plugin::`` and nothing else: other
packages' prefixes reach mmengine's own code unchanged.

This package must not import ``ssd_plugin`` (its import loads torch and mmdet
at every interpreter start).
"""

import functools
import os
import os.path as osp
import sys
from importlib.abc import MetaPathFinder

__all__ = ['PACKAGE', 'PREFIX', 'install', 'package_dir', 'patch', 'resolve', 'split_prefix']

PACKAGE = 'ssd_plugin'
PREFIX = PACKAGE + '::'
_CONFIG_MODULE = 'mmengine.config.config'
_MARK = '_ssd_plugin_mim'


def split_prefix(cfg_path: str):
    """``'ssd_plugin::a/b.py'`` -> ``('ssd_plugin', 'a/b.py')``.

    Raises:
        ValueError: the part after ``::`` is empty or has another ``::``.
    """
    rest = cfg_path[len(PREFIX) :]
    if not rest or '::' in rest:
        raise ValueError(
            f'{cfg_path!r}: expected {PREFIX}<config path under ssd_plugin/.mim/configs>, '
            f'e.g. {PREFIX}ssd300_coco.py or {PREFIX}_base_/models/ssd300.py'
        )
    return PACKAGE, rest


def package_dir() -> str:
    """Folder of the ``ssd_plugin`` package, found without importing it.

    mmengine's ``get_installed_path`` joins the distribution's location and
    the first line of ``top_level.txt``: wrong for an editable install (the
    location is site-packages, the code is in the source tree) and for this
    distribution, whose first top-level name is ``_ssd_plugin_mim``.

    Raises:
        ModuleNotFoundError: ssd_plugin is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f'{PREFIX}: the package {PACKAGE} is not installed')
    return list(spec.submodule_search_locations)[0]


def resolve(cfg_path: str) -> str:
    """Absolute path of ``ssd_plugin::<path>``: ``<package>/.mim/configs/<path>``.

    Raises:
        ValueError: malformed name (see :func:`split_prefix`).
        FileNotFoundError: no such config; the message lists the folder's contents.
    """
    _, rest = split_prefix(cfg_path)
    root = osp.join(package_dir(), '.mim', 'configs')
    path = osp.join(root, rest)
    if not osp.isfile(path):
        names = sorted(os.listdir(root)) if osp.isdir(root) else []
        hint = names or 'nothing (.mim/ is made by `pip install .` or `pip install -e .`)'
        raise FileNotFoundError(f'{cfg_path}: no config {rest!r} in {root}; it holds {hint}')
    return path


def patch(config_module=None) -> None:
    """Make mmengine resolve ``ssd_plugin::`` (idempotent).

    Args:
        config_module: the executed ``mmengine.config.config`` module; taken
            from ``sys.modules`` (importing it) when None.
    """
    if config_module is None:
        import mmengine.config.config as config_module
    config_cls = config_module.Config
    if getattr(config_cls._get_cfg_path, _MARK, False):
        return
    utils = sys.modules['mmengine.config.utils']
    get_package_and_cfg_path = utils._get_package_and_cfg_path

    # mmengine.hub.get_config's way in: ('ssd_plugin', path) instead of an assert.
    @functools.wraps(get_package_and_cfg_path)
    def get_package_and_cfg_path_with_prefix(cfg_path):
        if isinstance(cfg_path, str) and cfg_path.startswith(PREFIX):
            return split_prefix(cfg_path)
        return get_package_and_cfg_path(cfg_path)

    utils._get_package_and_cfg_path = get_package_and_cfg_path_with_prefix
    config_module._get_package_and_cfg_path = get_package_and_cfg_path_with_prefix

    # `_base_` entries: (path, scope), the scope stamped on the base's dicts as for mmdet::.
    get_cfg_path = config_cls._get_cfg_path

    @functools.wraps(get_cfg_path)
    def get_cfg_path_with_prefix(cfg_path, filename):
        if isinstance(cfg_path, str) and cfg_path.startswith(PREFIX):
            return resolve(cfg_path), PACKAGE
        return get_cfg_path(cfg_path, filename)

    setattr(get_cfg_path_with_prefix, _MARK, True)
    config_cls._get_cfg_path = staticmethod(get_cfg_path_with_prefix)

    fromfile = config_cls.fromfile  # the function behind the staticmethod

    @functools.wraps(fromfile)
    def fromfile_with_prefix(filename, *args, **kwargs):
        if isinstance(filename, str) and filename.startswith(PREFIX):
            filename = resolve(filename)
        return fromfile(filename, *args, **kwargs)

    config_cls.fromfile = staticmethod(fromfile_with_prefix)


class _PatchAfterImport(MetaPathFinder):
    """Finds nothing itself: wraps the loader of ``mmengine.config.config``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _CONFIG_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, 'exec_module'):
            return spec
        exec_module = loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            patch(module)

        loader.exec_module = exec_then_patch  # a loader object per module
        _remove_finder()
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PatchAfterImport)]


def install() -> None:
    """Patch mmengine now if its config module is loaded, else once it loads."""
    module = sys.modules.get(_CONFIG_MODULE)
    if module is not None and hasattr(module, 'Config'):
        patch(module)
    elif not any(isinstance(f, _PatchAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport())
