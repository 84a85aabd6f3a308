from types import SimpleNamespace

import torch

from ssd_plugin.engine import ChannelsLastHook
from ssd_plugin.registry import HOOKS, MODELS

TINY_DETECTOR = dict(
    type='mmdet.SingleStageDetector',
    data_preprocessor=dict(type='mmdet.DetDataPreprocessor'),
    backbone=dict(type='mmdet.MobileNetV2', widen_factor=0.25, out_indices=(2, 4)),
    bbox_head=dict(
        type='SSDHead',
        num_classes=3,
        in_channels=(8, 24),
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            strides=[8, 16],
            ratios=[[2], [2]],
            min_sizes=[12, 32],
            max_sizes=[32, 64],
        ),
    ),
)


def test_hook_converts_weights_and_inputs_without_changing_outputs():
    torch.manual_seed(0)
    model = MODELS.build(TINY_DETECTOR)
    model.init_weights()
    model.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model._forward(images)

    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert isinstance(hook, ChannelsLastHook)
    hook.before_run(SimpleNamespace(model=model))
    hook.before_run(SimpleNamespace(model=model))  # idempotent: one input hook only
    assert len(model.backbone._forward_pre_hooks) == 1
    seen = []  # pre-hooks run in order: this one sees what the backbone gets
    model.backbone.register_forward_pre_hook(
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )

    conv = model.backbone.conv1.conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    with torch.no_grad():
        after = model._forward(images)
    assert seen == [True]
    for level_before, level_after in zip(before, after):
        for x, y in zip(level_before, level_after):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
