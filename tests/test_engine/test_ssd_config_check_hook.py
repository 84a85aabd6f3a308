"""SSDConfigCheckHook: anchor levels, strides and boxes per location against
the real feature maps (num_classes is mmdet's NumClassCheckHook)."""

import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.registry import DefaultScope
from model_test_utils import tiny_detector_cfg

from ssd_plugin.registry import HOOKS, MODELS

TINY = tiny_detector_cfg(
    num_classes=3,
    input_size=128,
    normalise=False,
    bbox_coder=False,
    train_cfg=False,
    test_cfg=dict(nms_pre=100, nms=dict(type='nms', iou_threshold=0.45), score_thr=0.02),
)


def _model(**head):
    cfg = copy.deepcopy(TINY)
    for key, value in head.items():
        if key == 'anchor_generator':
            cfg['bbox_head'][key].update(value)
        else:
            cfg['bbox_head'][key] = value
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return MODELS.build(cfg)


def _runner(model):
    return SimpleNamespace(model=model)


def test_matching_config_passes_and_model_is_left_as_it_was():
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    HOOKS.build(dict(type='SSDConfigCheckHook')).before_train(_runner(model))
    assert model.training
    for key, value in model.state_dict().items():  # BN running stats untouched
        assert torch.equal(value, before[key]), key


def test_fewer_anchor_levels_than_feature_maps_is_reported_with_numbers():
    hook = HOOKS.build(dict(type='SSDConfigCheckHook'))
    model = _model()
    model.backbone.out_indices = (1, 2, 4, 6)  # the backbone now gives 4 maps
    with pytest.raises(ValueError, match=r'produce 4 feature maps .* 3 levels'):
        hook.before_train(_runner(model))


def test_wrong_strides_and_channels_are_reported_with_numbers():
    hook = HOOKS.build(dict(type='SSDConfigCheckHook'))
    model = _model(anchor_generator=dict(strides=[8, 16, 64]))
    with pytest.raises(ValueError, match=r'Level 2: feature map 4x4 but stride 64x64 .* needs 2x2'):
        hook.before_train(_runner(model))
    model = _model()
    model.backbone.out_indices = (2, 4, 5)  # 40 channels instead of 80
    with pytest.raises(
        ValueError, match=r'\[8, 24, 40\] channels but bbox_head.in_channels is \[8, 24, 80\]'
    ):
        hook.before_train(_runner(model))


def test_boxes_per_location_against_predictor_convs():
    hook = HOOKS.build(dict(type='SSDConfigCheckHook', input_size=128))
    model = _model()
    model.bbox_head.prior_generator = _model(
        anchor_generator=dict(ratios=[[2], [2, 3], [2]])
    ).bbox_head.prior_generator
    with pytest.raises(
        ValueError, match=r'cls_convs\[1\] predicts 16 channels .* 6 boxes .* 6 x 4 = 24'
    ):
        hook.before_train(_runner(model))


@pytest.mark.parametrize(
    'name',
    [
        'ssd300_coco.py',
        'ssd512_coco.py',
        'ssd300_voc0712.py',
        'ssdlite_mobilenetv2_coco.py',
        'ssd300_r50_coco.py',
        'ssd300_cspdarknet_coco.py',
    ],
)
def test_plugin_configs_use_the_robustness_settings_and_pass_the_check(name):
    from pathlib import Path

    from mmengine.config import Config

    cfg = Config.fromfile(str(Path(__file__).resolve().parents[2] / 'configs' / name))
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert {
        'NumClassCheckHook',
        'ssd_plugin.SSDConfigCheckHook',
        'ssd_plugin.InvalidLossGuardHook',
        'ssd_plugin.RNGStateHook',
    } <= set(hooks)
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    assert cfg.param_scheduler[0].type == 'LinearLR'  # warmup
    assert cfg.auto_scale_lr.base_batch_size in (64, 192)
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.bbox_head.prior_generator.input_size == cfg.input_size  # the dummy forward's
    HOOKS.build(dict(type='SSDConfigCheckHook')).check_feature_levels(model)
