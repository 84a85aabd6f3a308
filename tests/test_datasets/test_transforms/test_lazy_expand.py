"""Expand(lazy=True) -> MinIoURandomCrop equals the eager chain, and fails loudly elsewhere."""

import copy
import pickle

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import DefaultScope

from ssd_plugin.datasets.transforms._lazy_canvas import (
    LazyCanvasError,
    LazyExpandedImage,
    paste_on_canvas,
)
from ssd_plugin.registry import TRANSFORMS

MEAN = [123.675, 116.28, 103.53]


def build(cfg: dict):
    """Build a transform with default scope ssd_plugin, as configs do."""
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return TRANSFORMS.build(cfg)


def make_results(img, boxes):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = img.shape[:2]
    rng = np.random.default_rng(len(boxes))
    return dict(
        img=img.copy(),
        img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(boxes.copy()),
        gt_bboxes_labels=np.arange(len(boxes)),
        gt_ignore_flags=np.zeros(len(boxes), bool),
        gt_seg_map=(np.arange(h * w).reshape(h, w) % 7).astype(np.uint8),
        gt_masks=BitmapMasks((rng.random((len(boxes), h, w)) > 0.5).astype(np.uint8), h, w),
    )


@pytest.mark.parametrize('dtype', [np.uint8, np.float32])
def test_lazy_chain_equals_eager_chain_pixel_for_pixel(dtype):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 40, 3)).astype(dtype)
    boxes = [[2, 3, 20, 25], [15, 10, 39, 29], [30, 0, 40, 6]]
    chains = []
    for lazy in (False, True):
        chains.append(
            [
                build(dict(type='Expand', mean=MEAN, seg_ignore_label=255, lazy=lazy)),
                build(dict(type='MinIoURandomCrop')),
            ]
        )
    lazy_seen = 0
    for seed in range(150):
        outs = []
        for chain in chains:
            np.random.seed(seed)
            res = chain[0](make_results(img, boxes))
            lazy_seen += isinstance(res['img'], LazyExpandedImage)
            outs.append(chain[1](res))
        a, b = outs
        assert type(a['img']) is np.ndarray and type(b['img']) is np.ndarray
        assert np.array_equal(a['img'], b['img']) and a['img'].dtype == b['img'].dtype
        assert tuple(a['img_shape']) == tuple(b['img_shape']) == b['img'].shape[:2]
        assert np.array_equal(a['gt_seg_map'], b['gt_seg_map'])
        assert torch.equal(a['gt_bboxes'].tensor, b['gt_bboxes'].tensor)
        assert np.array_equal(a['gt_bboxes_labels'], b['gt_bboxes_labels'])
        assert np.array_equal(a['gt_masks'].masks, b['gt_masks'].masks)
    assert lazy_seen > 50


@pytest.mark.parametrize(
    'shape, dtype',
    [
        ((5, 7, 3), np.uint8),
        ((5, 7), np.uint8),
        ((5, 7, 1), np.float32),
        ((5, 7, 4), np.int16),
        ((5, 7, 3), np.int32),  # numpy fallback (cv2 has no int32 border)
        ((5, 7, 6), np.uint8),  # numpy fallback (> 4 channels)
    ],
)
def test_canvas_window_equals_slice_of_full_canvas(shape, dtype):
    rng = np.random.default_rng(1)
    src = rng.integers(1, 100, shape).astype(dtype)
    channels = 1 if len(shape) == 2 else shape[2]
    fill = np.arange(channels).astype(dtype) + 200 if channels > 1 else np.array(200, dtype)
    canvas_h, canvas_w, left, top = 13, 17, 6, 4
    full = np.empty((canvas_h, canvas_w) + shape[2:], dtype)
    full[...] = fill
    full[top : top + shape[0], left : left + shape[1]] = src
    lazy = LazyExpandedImage(src, fill, canvas_h, canvas_w, left, top)
    assert np.array_equal(lazy.materialize(), full)
    assert np.array_equal(paste_on_canvas(src, fill, (canvas_h, canvas_w), left, top), full)
    for window in [(0, 0, 3, 2), (5, 3, 9, 12), (7, 5, 10, 7), (0, 10, 17, 13), (12, 0, 17, 13)]:
        x1, y1, x2, y2 = window
        out = lazy.crop(*window)
        assert out.dtype == full.dtype and out.flags.c_contiguous
        assert np.array_equal(out, full[y1:y2, x1:x2]), window


def test_foreign_consumers_fail_loudly():
    expand = build(dict(type='Expand', mean=MEAN, seg_ignore_label=255, prob=1.0, lazy=True))
    res = expand(make_results(np.zeros((6, 8, 3), np.uint8), [[0, 0, 4, 4]]))
    assert isinstance(res['img'], LazyExpandedImage)
    assert res['img_shape'] == res['img'].canvas_shape[:2]
    assert res['gt_bboxes'].tensor[0, 0] == res['img'].left  # boxes already shifted
    for cfg in (
        dict(type='Resize', scale=(30, 30), keep_ratio=False),
        dict(type='PackDetInputs'),
        dict(type='PhotoMetricDistortion'),
        dict(type='Expand'),
        dict(type='mmdet.PhotoMetricDistortion'),
    ):
        with pytest.raises(LazyCanvasError, match='MinIoURandomCrop'):
            build(cfg)(dict(res))
    with pytest.raises(LazyCanvasError, match="results\\['img'\\]"):
        np.asarray(res['img'])
    with pytest.raises(LazyCanvasError):
        res['img'].shape  # noqa: B018
    # Copying and pickling keep working (mmengine deep-copies results).
    clone = pickle.loads(pickle.dumps(copy.deepcopy(res)))
    assert np.array_equal(clone['img'].materialize(), res['img'].materialize())


def test_crop_keeping_the_whole_image_materialises_the_canvas():
    expand = build(dict(type='Expand', mean=(9, 9, 9), seg_ignore_label=255, prob=1.0, lazy=True))
    expand._sample = lambda h, w: (2.0, 1, 2)
    crop = build(dict(type='MinIoURandomCrop'))
    crop._random_mode = lambda: 1
    img = np.ones((3, 4, 3), np.uint8)
    out = crop(expand(make_results(img, [[0, 0, 2, 2]])))
    expected = np.full((6, 8, 3), 9, np.uint8)
    expected[2:5, 1:5] = 1
    assert np.array_equal(out['img'], expected)
    assert out['gt_seg_map'].shape == (6, 8) and out['gt_seg_map'][0, 0] == 255
    assert out['gt_bboxes'].tensor.tolist() == [[1, 2, 3, 4]]


@pytest.mark.parametrize('name', ['Expand', 'MinIoURandomCrop'])
def test_unsupported_mask_types_are_named(name):
    from mmdet.structures.bbox import HorizontalBoxes

    from ssd_plugin.datasets.transforms import Expand, MinIoURandomCrop

    transform = {'Expand': Expand, 'MinIoURandomCrop': MinIoURandomCrop}[name]()
    img = np.zeros((8, 8, 3), np.uint8)
    boxes = HorizontalBoxes(np.array([[1.0, 1, 4, 4]], np.float32))
    with pytest.raises(TypeError, match=rf"{name} supports results\['gt_masks'\] .* got list"):
        transform.transform(dict(img=img, gt_bboxes=boxes, gt_masks=[]))
