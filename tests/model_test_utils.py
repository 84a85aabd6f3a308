"""Models of the tests: the tiny SSD (trains and exports in seconds), and the SSD
head dicts and plugin/mmdet head pairs read from the shipped configs
(``configs/_base_/models/ssd300.py``, ``configs/ssd512_coco.py``) and mmdet's
``ssd/ssd300_coco.py``, so that they cannot drift from them.

A helper module of the tests (``tests/`` is on ``sys.path`` under pytest), not
part of the package.
"""

import copy
import functools
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def get_config(name: str) -> Config:
    """A shipped config, e.g. ``'ssd512_coco.py'``; mmdet's as ``'mmdet::ssd/ssd300_coco.py'``."""
    if name.startswith('mmdet::'):  # Config.fromfile opens names as files
        import mmdet

        root = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
        name = name[len('mmdet::') :]
    else:
        root = CONFIG_DIR
    return Config.fromfile(osp.join(root, name))


def get_model_cfg(name: str) -> ConfigDict:
    """A deep copy of the ``model`` dict of :func:`get_config` ``(name)``."""
    return copy.deepcopy(get_config(name).model)


# The tiny SSD: the plugin's SSDHead on three levels (strides 8-32) of a 0.25x
# MobileNetV2, for 128 px inputs.


def tiny_detector_cfg(
    num_classes: int = 6,
    ratios: Sequence[Sequence[int]] = ([2], [2], [2]),
    min_sizes: Sequence[float] = (12, 32, 72),
    max_sizes: Sequence[float] = (32, 72, 128),
    input_size: Optional[int] = None,
    normalise: bool = True,
    bbox_coder: bool = True,
    train_cfg: bool = True,
    test_cfg: Optional[Dict] = None,
) -> Dict:
    """A ``SingleStageDetector`` dict (plugin scope, mmdet types as ``mmdet.X``).

    Args:
        num_classes: Foreground classes of the head.
        ratios: Aspect ratios per level (SSD: ``[2]`` or ``[2, 3]``).
        min_sizes: Smallest default box side per level (px).
        max_sizes: Largest default box side per level (px).
        input_size: The anchor generator's ``input_size``; None leaves its default.
        normalise: ImageNet mean/std and BGR to RGB; else mean 0, std 1.
        bbox_coder: Give the head SSD's ``DeltaXYWHBBoxCoder`` (stds 0.1, 0.2) explicitly.
        train_cfg: Add SSD's ``train_cfg`` (IoU 0.5 matching, 3:1 hard negatives).
        test_cfg: The model's ``test_cfg``; None: NMS 0.45, score 0.02, 100 a image.

    Returns:
        A new dict each call.
    """
    anchor_generator = dict(
        type='SSDAnchorGenerator',
        scale_major=False,
        strides=[8, 16, 32],
        ratios=[list(r) for r in ratios],
        min_sizes=list(min_sizes),
        max_sizes=list(max_sizes),
    )
    if input_size is not None:
        anchor_generator['input_size'] = input_size
    head = dict(
        type='SSDHead', in_channels=(8, 24, 80), num_classes=num_classes,
        anchor_generator=anchor_generator,
    )  # fmt: skip
    if bbox_coder:
        head['bbox_coder'] = dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
        )
    preprocessor = dict(type='mmdet.DetDataPreprocessor', pad_size_divisor=1)
    if normalise:
        preprocessor.update(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), bgr_to_rgb=True)
    else:
        preprocessor.update(mean=[0, 0, 0], std=[1, 1, 1])
    model = dict(
        type='mmdet.SingleStageDetector',
        data_preprocessor=preprocessor,
        backbone=dict(type='mmdet.MobileNetV2', widen_factor=0.25, out_indices=(2, 4, 6)),
        neck=None,
        bbox_head=head,
    )
    if train_cfg:
        model['train_cfg'] = dict(
            assigner=dict(
                type='SSDMaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0
            ),
            sampler=dict(type='SSDPseudoSampler', neg_pos_ratio=3),
            smoothl1_beta=1.0, allowed_border=-1, pos_weight=-1, debug=False,
        )  # fmt: skip
    model['test_cfg'] = test_cfg or dict(
        nms_pre=1000, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
        score_thr=0.02, max_per_img=100,
    )  # fmt: skip
    return model


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
