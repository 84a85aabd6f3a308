"""SSD head dicts and head pairs (the plugin's and mmdet's with equal weights)
for tests and benchmarks. The dicts are read from the shipped configs
(``configs/_base_/models/ssd300.py``, ``configs/ssd512_coco.py``) and mmdet's
``ssd/ssd300_coco.py``, so they cannot drift from them."""

import copy
import functools
from typing import Dict, Tuple

from mmengine.config import ConfigDict

from .config_files import get_model_cfg

__all__ = [
    'SSD_FEAT_SIZES',
    'build_head_pair',
    'mmdet_ssd_train_cfg',
    'ssd_head_cfg',
    'ssd_train_cfg',
]

# Feature map sides of SSD300's six and SSD512's seven levels (Liu et al. 2016, Table/Fig. 2).
SSD_FEAT_SIZES = {300: (38, 19, 10, 5, 3, 1), 512: (64, 32, 16, 8, 4, 2, 1)}
_CONFIGS = {300: '_base_/models/ssd300.py', 512: 'ssd512_coco.py'}


@functools.lru_cache(maxsize=None)
def _cached_model(name: str) -> Dict:
    return get_model_cfg(name).to_dict()


def _model(name: str) -> Dict:
    """A fresh copy of a config's model dict (each config is parsed once a process)."""
    return copy.deepcopy(_cached_model(name))


def ssd_head_cfg(input_size: int = 300, num_classes: int = 80, with_test_cfg: bool = True) -> Dict:
    """The plugin's SSD300 or SSD512 ``SSDHead`` dict of the shipped configs.

    Args:
        input_size: 300 or 512.
        num_classes: Replaces the configs' 80.
        with_test_cfg: Add the model's ``test_cfg`` (NMS settings) to the head dict.

    Returns:
        A plain dict with ``type='SSDHead'``, no ``train_cfg``.
    """
    if input_size not in _CONFIGS:
        raise ValueError(f'input_size must be one of {sorted(_CONFIGS)}, got {input_size}')
    model = _model(_CONFIGS[input_size])
    head = dict(model['bbox_head'], num_classes=num_classes)
    if with_test_cfg:
        head['test_cfg'] = model['test_cfg']
    return head


def ssd_train_cfg() -> Dict:
    """The plugin's SSD ``train_cfg`` (SSDMaxIoUAssigner, SSDPseudoSampler 3:1)."""
    return _model(_CONFIGS[300])['train_cfg']


def mmdet_ssd_train_cfg() -> Dict:
    """mmdet's SSD300 ``train_cfg`` (MaxIoUAssigner, PseudoSampler, neg_pos_ratio 3)."""
    return _model('mmdet::ssd/ssd300_coco.py')['train_cfg']


def build_head_pair(head_cfg: Dict, train_cfg: Dict = None, mmdet_train_cfg: Dict = None) -> Tuple:
    """The plugin's ``SSDHead`` and mmdet's, built from ``head_cfg``, with equal weights.

    mmdet's head is built entirely in mmdet's scope (its own anchor generator,
    assigner and sampler: the framework baseline); ``import ssd_plugin`` lets it
    predict (``ssd_plugin.utils.mmdet_ssd_head_compat``).

    Args:
        head_cfg: An ``SSDHead`` dict (``type`` is set here), e.g. from :func:`ssd_head_cfg`.
        train_cfg: The plugin's; None: :func:`ssd_train_cfg`.
        mmdet_train_cfg: mmdet's; None: :func:`mmdet_ssd_train_cfg`.

    Returns:
        ``(ours, theirs)``.
    """
    from ssd_plugin.registry import MODELS

    cfg = {k: v for k, v in copy.deepcopy(head_cfg).items() if k != 'type'}
    ours_train = ssd_train_cfg() if train_cfg is None else copy.deepcopy(train_cfg)
    theirs_train = mmdet_ssd_train_cfg() if mmdet_train_cfg is None else mmdet_train_cfg
    ours = MODELS.build(ConfigDict(type='SSDHead', train_cfg=ours_train, **cfg))
    theirs = MODELS.build(
        ConfigDict(type='SSDHead', _scope_='mmdet', train_cfg=copy.deepcopy(theirs_train), **cfg)
    )
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs
