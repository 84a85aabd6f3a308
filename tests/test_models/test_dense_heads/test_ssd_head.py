import copy

import pytest
import torch
from mmdet.structures.bbox import bbox_overlaps
from mmdet.testing import demo_mm_inputs
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from model_test_utils import (
    SSD_FEAT_SIZES,
    build_head_pair,
    get_model_cfg,
    ssd_head_cfg,
    ssd_train_cfg,
)

from ssd_plugin.models import SSDHead
from ssd_plugin.registry import MODELS

NUM_CLASSES = 20
# configs/_base_/models/ssd300.py's head (and NMS test_cfg) with 20 classes.
SSD300_HEAD = {k: v for k, v in ssd_head_cfg(300, NUM_CLASSES).items() if k != 'type'}
TRAIN_CFG = ssd_train_cfg()
_SSD300_MODEL = get_model_cfg('_base_/models/ssd300.py').to_dict()
FEAT_SIZES = list(SSD_FEAT_SIZES[300])


def build_heads(cfg=SSD300_HEAD):
    # The framework baseline is built entirely in mmdet's scope.
    ours, theirs = build_head_pair(cfg)
    assert type(theirs).__module__.startswith('mmdet.') and isinstance(ours, SSDHead)
    return ours, theirs


def random_inputs(head, batch=2, size=300, seed=0, counts=(3, 1), logit_std=1.0):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch, c, s, s, generator=g) for c, s in zip(head.in_channels, FEAT_SIZES)]
    gts = []
    for n in counts:
        xy = torch.rand(n, 2, generator=g) * size * 0.7
        wh = torch.rand(n, 2, generator=g) * size * 0.3 + 4
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, NUM_CLASSES, (n,), generator=g),
            )
        )
    metas = [
        dict(
            img_shape=(size, size),
            pad_shape=(size, size),
            batch_input_shape=(size, size),
            scale_factor=(1.0, 1.0),
        )
        for _ in range(batch)
    ]
    return feats, gts, metas


def test_parameters_match_mmdet_names_and_shapes():
    for cfg in (
        SSD300_HEAD,
        dict(SSD300_HEAD, use_depthwise=True, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6')),
    ):
        ours, theirs = build_heads(cfg)
        ours_shapes = {k: v.shape for k, v in ours.state_dict().items()}
        theirs_shapes = {k: v.shape for k, v in theirs.state_dict().items()}
        assert ours_shapes == theirs_shapes
    plain, _ = build_heads()
    assert plain.state_dict()['cls_convs.0.0.weight'].shape == (4 * (NUM_CLASSES + 1), 512, 3, 3)
    assert plain.state_dict()['reg_convs.5.0.weight'].shape == (4 * 4, 256, 3, 3)


def test_mmdet_checkpoint_loads_and_forward_is_identical():
    ours, theirs = build_heads()
    theirs.init_weights()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    feats, _, _ = random_inputs(ours)
    for a, b in zip(ours(feats), theirs(feats)):
        for x, y in zip(a, b):
            assert torch.equal(x, y)


@pytest.mark.parametrize('sparse', [True, False])
@pytest.mark.parametrize('seed,counts', [(0, (3, 1)), (1, (12, 5)), (2, (1, 0))])
def test_loss_matches_mmdet(seed, counts, sparse):
    # sparse: gathered rows (the CPU default); dense: masked rows (the GPU default).
    ours, theirs = build_heads()
    ours.sparse_loss = sparse
    feats, gts, metas = random_inputs(ours, seed=seed, counts=counts)
    cls_scores, bbox_preds = ([x.detach().requires_grad_() for x in out] for out in ours(feats))
    outputs = cls_scores + bbox_preds
    a = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    b = theirs.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    for key in ('loss_cls', 'loss_bbox'):
        # mmdet's structure: one share per image, equal to mmdet's image by image.
        assert len(a[key]) == len(b[key]) == len(gts), key
        for x, y in zip(a[key], b[key]):
            assert x.shape == () and x.item() == pytest.approx(y.item(), abs=1e-4, rel=1e-5), key
    assert sum(a['loss_cls']) > 0 and sum(a['loss_bbox']) > 0
    # The gradients reach the same outputs with the same values.
    ours_grads = torch.autograd.grad(sum(a['loss_cls']) + sum(a['loss_bbox']), outputs)
    theirs_grads = torch.autograd.grad(sum(b['loss_cls']) + sum(b['loss_bbox']), outputs)
    for g_ours, g_theirs in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-5, atol=1e-7)


def test_loss_with_no_objects_is_zero_and_grads_finite():
    ours, _ = build_heads()
    feats, _, metas = random_inputs(ours)
    empty = [InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))] * 2
    cls_scores, bbox_preds = ours(feats)
    losses = ours.loss_by_feat(cls_scores, bbox_preds, empty, metas)
    assert [t.item() for t in losses['loss_cls'] + losses['loss_bbox']] == [0] * 4
    sum(losses['loss_cls'] + losses['loss_bbox']).backward()
    assert all(torch.isfinite(p.grad).all() for p in ours.parameters() if p.grad is not None)


def tiny_giou_head(sparse, **overrides):
    """One 2x2 level of stride 8, two identical 8x8 default boxes a location, GIoU loss."""
    cfg = dict(
        num_classes=1,
        in_channels=(4,),
        anchor_generator=dict(
            type='ssd_plugin.SSDAnchorGenerator',
            strides=[8],
            ratios=[[]],
            min_sizes=[8],
            max_sizes=[8],
        ),
        reg_decoded_bbox=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        train_cfg=dict(
            assigner=dict(type='ssd_plugin.SSDMaxIoUAssigner', pos_iou_thr=0.3, neg_iou_thr=0.3)
        ),
        sparse_loss=sparse,
    )
    cfg.update(overrides)
    return SSDHead(**cfg)


def tiny_giou_loss(head, boxes, batch=1):
    cls_scores = [torch.zeros(batch, 2 * 2, 2, 2, requires_grad=True)]
    bbox_preds = [torch.zeros(batch, 2 * 4, 2, 2, requires_grad=True)]
    gts = [InstanceData(bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long))] * batch
    metas = [dict(img_shape=(16, 16), pad_shape=(16, 16), batch_input_shape=(16, 16))] * batch
    return head.loss_by_feat(cls_scores, bbox_preds, gts, metas), bbox_preds[0]


@pytest.mark.parametrize('sparse', [True, False])
def test_box_loss_from_mmdets_registry_on_decoded_boxes(sparse):
    # The object [2, 0, 10, 4] overlaps both default boxes at [0, 0, 8, 8] with IoU
    # 24 / 72 = 1/3 (positive from 0.3); zero offsets decode to the boxes themselves.
    # GIoU = IoU - (C - U) / C with the enclosing box [0, 0, 10, 8]: 1/3 - 8 / 80 = 7/30,
    # so each positive costs 2 x (1 - 7/30), and the two of them over N = 2 give 46/30.
    losses, bbox_preds = tiny_giou_loss(tiny_giou_head(sparse), torch.tensor([[2.0, 0, 10, 4]]))
    assert losses['loss_bbox'][0].item() == pytest.approx(46 / 30, rel=1e-5)
    losses['loss_bbox'][0].backward()
    # Only the two positives' offsets (location 0) receive a gradient.
    moved = bbox_preds.grad.abs().sum(1) > 0  # (1, 2, 2)
    assert moved.flatten().tolist() == [True, False, False, False]


@pytest.mark.parametrize('sparse', [True, False])
def test_box_loss_without_positives_keeps_the_box_convs_in_the_graph(sparse):
    # DDP needs every output in the graph, even when a batch has no objects.
    losses, bbox_preds = tiny_giou_loss(tiny_giou_head(sparse), torch.zeros(0, 4), batch=2)
    assert [t.item() for t in losses['loss_bbox']] == [0, 0]
    sum(losses['loss_bbox']).backward()
    assert bbox_preds.grad is not None and not bbox_preds.grad.any()


def test_iou_box_loss_on_offsets_is_refused():
    with pytest.raises(ValueError, match='loss_bbox GIoULoss compares boxes.*reg_decoded_bbox'):
        tiny_giou_head(True, reg_decoded_bbox=False)


def test_loss_accepts_none_ignore_entries():
    # mmdet's unpack_gt_instances gives None for samples without ignored_instances.
    train_cfg = copy.deepcopy(TRAIN_CFG)
    train_cfg['assigner']['ignore_iof_thr'] = 0.5
    ours = MODELS.build(dict(type='SSDHead', train_cfg=train_cfg, **copy.deepcopy(SSD300_HEAD)))
    feats, gts, metas = random_inputs(ours, counts=(3, 2))
    cls_scores, bbox_preds = ours(feats)
    plain = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    nones = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas, [None, None])
    # Image 1 ignores its top-left quarter: those default boxes leave the negatives.
    ignore = [None, InstanceData(bboxes=torch.tensor([[0.0, 0.0, 150.0, 150.0]]))]
    mixed = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas, ignore)
    assert [t.item() for t in nones['loss_cls']] == [t.item() for t in plain['loss_cls']]
    # Only image 1's share changes.
    assert mixed['loss_cls'][0].item() == plain['loss_cls'][0].item()
    assert mixed['loss_cls'][1].item() != plain['loss_cls'][1].item()


def _sorted(result):
    order = torch.argsort(result.scores * 1e4 + result.bboxes[:, 0], descending=True)
    return result.bboxes[order], result.scores[order], result.labels[order]


@pytest.mark.parametrize('rescale', [False, True])
def test_predict_matches_mmdet(rescale):
    ours, theirs = build_heads()
    feats, _, metas = random_inputs(ours, seed=3)
    for meta in metas:
        meta['scale_factor'] = (0.5, 0.75)
    cls_scores, bbox_preds = ours(feats)
    cls_scores = [c * 4 for c in cls_scores]  # confident enough to pass score_thr
    a = ours.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, rescale=rescale)
    b = theirs.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, rescale=rescale)
    for x, y in zip(a, b):
        assert len(x) == len(y) > 10
        for u, v in zip(_sorted(x), _sorted(y)):
            assert torch.allclose(u.float(), v.float(), atol=1e-4)


def test_predict_through_base_dense_head_interface():
    ours, _ = build_heads()
    feats, _, metas = random_inputs(ours)
    from mmdet.structures import DetDataSample

    samples = [DetDataSample(metainfo=m) for m in metas]
    results = ours.predict(tuple(feats), samples, rescale=False)
    assert len(results) == 2 and {'bboxes', 'scores', 'labels'} <= set(results[0].keys())


def test_level_mismatch_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r'5 in_channels .* 6 levels'):
        MODELS.build(dict(type='SSDHead', **dict(SSD300_HEAD, in_channels=(512,) * 5)))
    ours, _ = build_heads()
    feats, gts, metas = random_inputs(ours)
    feats[2] = feats[2][..., :9, :9]
    cls_scores, bbox_preds = ours(feats)
    with pytest.raises(ValueError, match=r'Level 2: feature map 9x9 .* needs 10x10'):
        ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)


# The detector around the head: SSD300's preprocessor, train_cfg and NMS.
DETECTOR = dict(
    type='mmdet.SingleStageDetector',
    data_preprocessor=dict(_SSD300_MODEL['data_preprocessor'], std=[58.4, 57.1, 57.4]),
    train_cfg=TRAIN_CFG,
    test_cfg=SSD300_HEAD['test_cfg'],
)


def _extra_levels_neck(in_channels, out_channels, **extra):
    """mmdet's SSDNeck with four stride-2, padding-1 extra levels and no L2Norm."""
    return dict(
        type='mmdet.SSDNeck', in_channels=in_channels, out_channels=out_channels,
        level_strides=(2,) * 4, level_paddings=(1,) * 4, l2_norm_scale=None, **extra,
    )  # fmt: skip


def _backbone_case(size, backbone, neck, strides):
    return size, dict(
        backbone=backbone, neck=neck, strides=strides, in_channels=neck['out_channels']
    )


# backbone name -> (input size, backbone, neck, default box strides, head in_channels)
BACKBONES = {
    # SSD300's VGG16 and neck (configs/_base_/models/ssd300.py), no pretrained weights.
    'vgg16': _backbone_case(
        300,
        {k: v for k, v in _SSD300_MODEL['backbone'].items() if k != 'init_cfg'},
        _SSD300_MODEL['neck'],
        SSD300_HEAD['anchor_generator']['strides'],
    ),
    'resnet18': _backbone_case(
        300,
        dict(type='mmdet.ResNet', depth=18, out_indices=(2, 3), norm_eval=False),
        _extra_levels_neck((256, 512), (256, 512, 256, 256, 128, 128)),
        [16, 32, 64, 100, 150, 300],
    ),
    'mobilenetv2': _backbone_case(
        320,
        dict(type='mmdet.MobileNetV2', out_indices=(4, 7), widen_factor=0.5),
        _extra_levels_neck(
            (48, 1280),
            (48, 1280, 256, 128, 128, 64),
            use_depthwise=True,
            norm_cfg=dict(type='BN'),
            act_cfg=dict(type='ReLU6'),
        ),  # fmt: skip
        [16, 32, 64, 107, 160, 320],
    ),
}


@pytest.mark.slow  # about 9 s for VGG16 at 300 px on the slow VM
@pytest.mark.parametrize('name', list(BACKBONES))
def test_head_after_registered_backbones(name):
    size, parts = BACKBONES[name]
    head = copy.deepcopy(SSD300_HEAD)
    head['in_channels'] = parts['in_channels']
    head['anchor_generator'].update(
        strides=parts['strides'],
        input_size=size,
        ratios=[[2, 3]] * 6,
        basesize_ratio_range=(0.2, 0.9),
        size_mode='paper',
    )
    head.pop('test_cfg')
    cfg = dict(
        DETECTOR,
        backbone=parts['backbone'],
        neck=parts['neck'],
        bbox_head=dict(type='SSDHead', **head),
    )
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg))
    # As the Runner does. Without it mmdet's L2Norm (SSDNeck) keeps its
    # uninitialised `torch.Tensor(n)` weight: whatever memory held, up to 1e37.
    model.init_weights()
    packed = demo_mm_inputs(2, [(3, size, size)] * 2, num_items=[3, 2], num_classes=NUM_CLASSES)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    assert torch.isfinite(total) and total > 0
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2 and results[0].pred_instances.bboxes.shape[-1] == 4


def test_cpu_logsumexp_matches_torch_and_redoes_overflowing_rows():
    from ssd_plugin.models.dense_heads.ssd_head import _cpu_logsumexp

    g = torch.Generator().manual_seed(0)
    v = torch.randn(7, 21, 30, generator=g) * 3
    v[2, :, 4] += 200.0  # exp overflows: inf without the redo
    v[5, :, 9] -= 200.0  # every exp underflows to 0: -inf without the redo
    torch.testing.assert_close(_cpu_logsumexp(v), torch.logsumexp(v, dim=1), rtol=0, atol=2e-6)


def test_small_objects_loss_matches_mmdet_with_an_empty_image():
    # Few small objects (the benchmark's --objects small) in a batch of 4 with
    # an image without ground truth: the CPU assigner groups images into blocks.
    ours, theirs = build_heads()
    feats, _, metas = random_inputs(ours, batch=4, counts=())
    g = torch.Generator().manual_seed(7)
    gts = []
    for n in (1, 0, 7, 4):
        wh = torch.rand(n, 2, generator=g) * 86 + 4
        xy = torch.rand(n, 2, generator=g) * (300 - wh)
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1),
                labels=torch.randint(0, NUM_CLASSES, (n,), generator=g),
            )
        )
    cls_scores, bbox_preds = ([x.detach().requires_grad_() for x in out] for out in ours(feats))
    outputs = cls_scores + bbox_preds
    a = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    b = theirs.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    for key in ('loss_cls', 'loss_bbox'):
        # Both return mmdet's per-image lists.
        for ours_image, theirs_image in zip(a[key], b[key]):
            assert ours_image.item() == pytest.approx(theirs_image.item(), abs=1e-5, rel=1e-5)
    ours_grads = torch.autograd.grad(sum(a['loss_cls']) + sum(a['loss_bbox']), outputs)
    theirs_grads = torch.autograd.grad(sum(b['loss_cls']) + sum(b['loss_bbox']), outputs)
    for g_ours, g_theirs in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-5, atol=1e-7)


def test_box_voting_after_nms_moves_the_kept_boxes_and_keeps_the_rest():
    ours, _ = build_heads()
    feats, _, metas = random_inputs(ours, seed=3)
    cls_scores, bbox_preds = ours(feats)
    cls_scores = [c * 4 for c in cls_scores]
    plain = ours.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)
    ours.test_cfg = ConfigDict(ours.test_cfg, box_voting=dict(iou_thr=0.5))
    voted = ours.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)
    for p, v in zip(plain, voted):
        # NMS keeps the same detections; only their boxes move
        assert len(p) == len(v) > 10
        assert torch.equal(p.scores, v.scores) and torch.equal(p.labels, v.labels)
        moved = (p.bboxes - v.bboxes).abs().amax(1) > 1e-3
        assert 0 < moved.sum() < len(p)
    # one kept box by hand: the score-weighted mean of the candidates that vote for it
    candidates = ours.predict_by_feat(
        cls_scores, bbox_preds, batch_img_metas=metas, with_nms=False
    )[0]
    i = 0
    box, label = plain[0].bboxes[i], plain[0].labels[i]
    iou = bbox_overlaps(box[None], candidates.bboxes)[0]
    w = candidates.scores * ((iou >= 0.5) & (candidates.labels == label))
    expected = (w[:, None] * candidates.bboxes).sum(0) / w.sum()
    assert torch.allclose(voted[0].bboxes[i], expected, atol=1e-4)


def test_bad_box_voting_is_refused_at_build():
    cfg = dict(SSD300_HEAD, test_cfg=dict(SSD300_HEAD['test_cfg'], box_voting=dict(iou=0.8)))
    with pytest.raises(ValueError, match=r'SSDHead test_cfg.box_voting takes iou_thr only'):
        MODELS.build(dict(cfg, type='ssd_plugin.SSDHead'))
