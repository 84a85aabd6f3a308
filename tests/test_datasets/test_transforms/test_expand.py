"""Tests of ssd_plugin's Expand ("zoom out", SSD §2.2)."""

import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import Expand as MMDetExpand
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.registry import DefaultScope

from ssd_plugin.datasets.transforms import Expand
from ssd_plugin.registry import TRANSFORMS

MEAN = [123.675, 116.28, 103.53]


def build(cfg: dict):
    """Build a transform with default scope ssd_plugin, as configs do."""
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return TRANSFORMS.build(cfg)


def make_results(img: np.ndarray, boxes=((1.0, 2.0, 30.0, 40.0), (10.0, 10.0, 20.0, 20.0))):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return dict(
        img=img,
        img_shape=img.shape[:2],
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=np.arange(len(boxes)),
        gt_ignore_flags=np.zeros(len(boxes), bool),
    )


def test_scope_switches_between_ours_and_mmdet():
    assert type(build(dict(type='Expand'))) is Expand
    assert type(build(dict(type='mmdet.Expand'))) is MMDetExpand
    assert 'lazy=False' in repr(build(dict(type='Expand')))


def test_2x2_image_with_known_offset():
    img = np.array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]], np.uint8)
    t = build(dict(type='Expand', mean=(10.7, 20.2, 30.9), to_rgb=True, prob=1.0))
    t._sample = lambda h, w: (2.0, 1, 0)  # ratio 2 -> 4x4 canvas, image at column 1, row 0
    out = t(make_results(img.copy(), boxes=[[0, 0, 2, 2]]))
    fill = [30, 20, 10]  # RGB mean reversed to BGR, truncated like numpy's cast
    expected = np.empty((4, 4, 3), np.uint8)
    expected[:] = fill
    expected[0:2, 1:3] = img
    assert np.array_equal(out['img'], expected)
    assert out['img_shape'] == (4, 4)
    assert out['gt_bboxes'].tensor.tolist() == [[1.0, 0.0, 3.0, 2.0]]


def test_gray_and_four_channel_images():
    t = build(dict(type='Expand', mean=(5, 5, 5), prob=1.0))
    t._sample = lambda h, w: (1.5, 1, 2)
    for img in (
        np.ones((4, 6), np.uint8),
        np.ones((4, 6, 1), np.uint8),
        np.ones((4, 6, 4), np.uint8),
    ):
        out = t(make_results(img.copy(), boxes=np.zeros((0, 4))))['img']
        assert out.shape == (6, 9) + img.shape[2:]
        assert out.sum() == 5 * (out.size - img.size) + img.size
        assert np.all(out[2:6, 1:7] == 1)
    # Distinct per-channel means need one value per channel.
    t4 = build(dict(type='Expand', mean=MEAN, prob=1.0))
    with pytest.raises(ValueError, match="results\\['img'\\] has 4 channel"):
        t4(make_results(np.ones((4, 6, 4), np.uint8)))


def test_float_image_fill_is_exact_mean():
    t = build(dict(type='Expand', mean=MEAN, to_rgb=False, prob=1.0))
    t._sample = lambda h, w: (2.0, 0, 0)
    out = t(make_results(np.zeros((3, 3, 3), np.float32)))['img']
    assert out.dtype == np.float32
    assert np.allclose(out[-1, -1], np.float32(MEAN))


@pytest.mark.parametrize('dtype', [np.uint8, np.float32])
def test_matches_mmdet_value_for_value_with_same_seed(dtype):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3)).astype(dtype)
    seg = rng.integers(0, 5, (24, 32)).astype(np.uint8)
    bitmap = BitmapMasks((rng.random((2, 24, 32)) > 0.5).astype(np.uint8), 24, 32)
    ours = build(dict(type='Expand', mean=MEAN, to_rgb=True, seg_ignore_label=255))
    theirs = build(dict(type='mmdet.Expand', mean=MEAN, to_rgb=True, seg_ignore_label=255))
    expanded = 0
    for seed in range(60):
        outs = []
        for t in (ours, theirs):
            np.random.seed(seed)
            res = make_results(img.copy())
            res.update(gt_seg_map=seg.copy(), gt_masks=bitmap)
            outs.append(t(res))
        a, b = outs
        assert np.array_equal(a['img'], b['img']) and a['img'].dtype == b['img'].dtype
        assert tuple(a['img_shape']) == tuple(b['img_shape']) == a['img'].shape[:2]
        assert torch.equal(a['gt_bboxes'].tensor, b['gt_bboxes'].tensor)
        assert np.array_equal(a['gt_seg_map'], b['gt_seg_map'])
        assert np.array_equal(a['gt_masks'].to_ndarray(), b['gt_masks'].to_ndarray())
        expanded += a['img'].shape != img.shape
    assert 15 < expanded < 45


def test_ratio_distribution_and_share_expanded_match_mmdet():
    """2000 draws each, independent seeds. Tolerances: share expanded within
    0.05 of mmdet's (3 sigma of the difference is 0.047) and of ``prob``; the
    side ratio's KS distance to mmdet's at most 0.08 (the 0.1% critical value
    for ~1000 expansions per side is 0.087), its mean within 0.1 of 2.5."""
    img = np.zeros((10, 12, 3), np.uint8)
    ratios, shares = [], []
    for t, seed in ((build(dict(type='Expand')), 1), (build(dict(type='mmdet.Expand')), 2)):
        np.random.seed(seed)
        r = []
        for _ in range(2000):
            out = t(make_results(img, boxes=np.zeros((0, 4))))
            if out['img'] is not img:
                r.append(out['img'].shape[1] / img.shape[1])
        ratios.append(np.array(r))
        shares.append(len(r) / 2000)
    assert abs(shares[0] - shares[1]) < 0.05 and abs(shares[0] - 0.5) < 0.05
    a, b = np.sort(ratios[0]), np.sort(ratios[1])
    grid = np.concatenate([a, b])
    ks = np.abs(
        np.searchsorted(a, grid, 'right') / len(a) - np.searchsorted(b, grid, 'right') / len(b)
    )
    assert ks.max() < 0.08
    assert abs(a.mean() - 2.5) < 0.1 and a.min() >= 1 and a.max() <= 4


def test_polygon_masks_move_like_bitmap_masks():
    """mmdet 3.3's PolygonMasks.expand raises NotImplementedError; ours translates."""
    polys = PolygonMasks(
        [[np.array([1.0, 2, 10, 2, 10, 12])], [np.array([3.0, 3, 8, 3, 8, 9])]], 16, 20
    )
    t = build(dict(type='Expand', prob=1.0))
    t._sample = lambda h, w: (2.0, 7, 5)
    res = make_results(np.zeros((16, 20, 3), np.uint8))
    out = t(dict(res, gt_masks=polys))['gt_masks']
    assert isinstance(out, PolygonMasks) and (out.height, out.width) == (32, 40)
    assert out.masks[0][0].tolist() == [8.0, 7, 17, 7, 17, 17]
    res = make_results(np.zeros((16, 20, 3), np.uint8))
    bitmap = t(dict(res, gt_masks=polys.to_bitmap()))['gt_masks']
    assert np.array_equal(out.to_ndarray(), bitmap.to_ndarray())
    assert polys.masks[0][0].tolist() == [1.0, 2, 10, 2, 10, 12]  # input untouched


def test_seg_map_needs_ignore_label_and_masks_type_is_checked():
    res = make_results(np.zeros((4, 4, 3), np.uint8))
    res['gt_seg_map'] = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match='gt_seg_map'):
        build(dict(type='Expand', prob=1.0))(res)
    res = make_results(np.zeros((4, 4, 3), np.uint8))
    res['gt_masks'] = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(TypeError, match='gt_masks'):
        build(dict(type='Expand', prob=1.0))(res)


def test_empty_ground_truth_and_ndarray_boxes():
    t = build(dict(type='Expand', prob=1.0))
    t._sample = lambda h, w: (2.0, 3, 1)
    out = t(make_results(np.zeros((5, 5, 3), np.uint8), boxes=np.zeros((0, 4))))
    assert out['gt_bboxes'].tensor.shape == (0, 4) and out['img'].shape == (10, 10, 3)
    res = make_results(np.zeros((5, 5, 3), np.uint8))
    res['gt_bboxes'] = np.array([[0, 0, 5, 5]], np.float32)  # autocast to HorizontalBoxes and back
    out = t(res)
    assert isinstance(out['gt_bboxes'], np.ndarray)
    assert out['gt_bboxes'].tolist() == [[3, 1, 8, 6]]


def test_prob_zero_is_identity_and_bad_args_raise():
    res = make_results(np.zeros((5, 5, 3), np.uint8))
    img = res['img']
    assert build(dict(type='Expand', prob=0.0))(res)['img'] is img
    with pytest.raises(ValueError):
        build(dict(type='Expand', ratio_range=(0.5, 2)))
