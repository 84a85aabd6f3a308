"""The shipped configs, read by tests and benchmarks (as mmdet's ``testing`` reads
mmdet's): the SSD300/SSD512 model dicts come from ``configs/``, not copies."""

import copy
import os.path as osp

from mmengine.config import Config, ConfigDict

__all__ = ['config_dir', 'get_config', 'get_model_cfg']


def config_dir() -> str:
    """``configs/`` of the package: ``ssd_plugin/.mim/configs`` when installed, else the repo's."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for path in (osp.join(package, '.mim', 'configs'), osp.join(osp.dirname(package), 'configs')):
        if osp.isdir(path):
            return path
    raise FileNotFoundError(f'no configs/ next to {package} nor in its .mim/')


def get_config(name: str) -> Config:
    """A shipped config, e.g. ``'ssd512_coco.py'``; mmdet's as ``'mmdet::ssd/ssd300_coco.py'``."""
    if name.startswith('mmdet::'):  # Config.fromfile opens names as files
        import mmdet

        root = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
        name = name[len('mmdet::') :]
    else:
        root = config_dir()
    path = osp.join(root, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such config under {root}')
    return Config.fromfile(path)


def get_model_cfg(name: str) -> ConfigDict:
    """A deep copy of the ``model`` dict of :func:`get_config` ``(name)``."""
    return copy.deepcopy(get_config(name).model)
