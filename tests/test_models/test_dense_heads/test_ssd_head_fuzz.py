"""Fuzzing of SSDHead.loss_by_feat: random predictions, boxes (degenerate,
outside the image, none at all) and labels over many seeded cases give a
finite, non-negative loss with finite gradients."""

import pytest
import torch
from mmengine.structures import InstanceData

from ssd_plugin.registry import MODELS

CASES = 300
SIZE = 64


def build_head():
    return MODELS.build(
        dict(
            type='SSDHead',
            num_classes=4,
            in_channels=(4, 4),
            anchor_generator=dict(
                type='SSDAnchorGenerator',
                input_size=SIZE,
                strides=[16, 32],
                ratios=[[2], [2, 3]],
                min_sizes=[12, 32],
                max_sizes=[32, 64],
            ),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
            ),
            train_cfg=dict(
                assigner=dict(
                    type='SSDMaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0
                ),
                sampler=dict(type='SSDPseudoSampler', neg_pos_ratio=3),
                smoothl1_beta=1.0,
            ),
        )
    )


def random_instances(gen, num_classes):
    n = int(torch.randint(0, 6, (1,), generator=gen))
    xy = torch.rand(n, 2, generator=gen) * SIZE * 1.4 - SIZE * 0.2  # may lie outside
    wh = torch.rand(n, 2, generator=gen) * SIZE
    wh[torch.rand(n, generator=gen) < 0.2] = 0  # degenerate
    boxes = torch.cat([xy, xy + wh], 1)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    return InstanceData(bboxes=boxes, labels=labels)


@pytest.mark.slow
def test_fuzz_ssd_head_loss():
    head = build_head()
    gen = torch.Generator().manual_seed(7)
    meta = dict(img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE))
    positives = 0
    for case in range(CASES):
        batch = int(torch.randint(1, 4, (1,), generator=gen))
        scale = float(torch.rand(1, generator=gen)) * 20  # from calm to extreme logits
        feats = [torch.randn(batch, 4, s, s, generator=gen) for s in (4, 2)]
        cls_scores, bbox_preds = head(feats)
        cls_scores = [(c * scale).detach().requires_grad_() for c in cls_scores]
        bbox_preds = [(b * scale).detach().requires_grad_() for b in bbox_preds]
        gts = [random_instances(gen, head.num_classes) for _ in range(batch)]
        losses = head.loss_by_feat(cls_scores, bbox_preds, gts, [meta] * batch)
        assert len(losses['loss_cls']) == len(losses['loss_bbox']) == batch
        total = sum(losses['loss_cls']) + sum(losses['loss_bbox'])
        assert torch.isfinite(total) and total >= 0, (case, losses)
        total.backward()
        for t in cls_scores + bbox_preds:
            assert torch.isfinite(t.grad).all(), case
        if all(len(g) == 0 for g in gts):
            assert sum(losses['loss_bbox']) == 0, case  # negatives only, and no NaN
        positives += int(sum(losses['loss_bbox']) > 0)
    assert positives > CASES // 4  # most cases do match boxes
