"""Fuzzing of the SSD training transforms chained as in the configs (Expand,
MinIoURandomCrop, Resize, RandomFlip, PhotoMetricDistortion): random images
and boxes, degenerate ones included, over many seeded cases. No crash, finite
boxes inside the image, labels and flags aligned with their boxes."""

import numpy as np
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.registry import DefaultScope
from model_test_utils import get_config

from ssd_plugin.registry import TRANSFORMS

CASES = 300
OUT = 64


def build(cfg):
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return TRANSFORMS.build(cfg)


def random_case(rng):
    """An image and boxes as the dataset gives them (inside the image, any size
    down to zero width or height), labels being unique ids."""
    h, w = (int(v) for v in rng.integers(4, 120, size=2))
    n = int(rng.integers(0, 9))
    x = np.sort(rng.uniform(0, w, size=(n, 2)), axis=1)
    y = np.sort(rng.uniform(0, h, size=(n, 2)), axis=1)
    boxes = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1).astype(np.float32)
    degenerate = rng.random(n) < 0.2
    boxes[degenerate, 2] = boxes[degenerate, 0]  # zero width
    flat = rng.random(n) < 0.1
    boxes[flat, 3] = boxes[flat, 1]  # zero height
    return dict(
        img=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=np.arange(n, dtype=np.int64) + 100,
        gt_ignore_flags=rng.random(n) < 0.2,
    )


def check_translation(before, after):
    """Kept boxes (by id) are the input boxes moved by one common offset and
    clipped to the output image."""
    ids_in = list(before['gt_bboxes_labels'])
    ids_out = list(after['gt_bboxes_labels'])
    positions = [ids_in.index(i) for i in ids_out]
    assert positions == sorted(positions)  # a subsequence, order kept
    assert np.array_equal(after['gt_ignore_flags'], before['gt_ignore_flags'][positions])
    src = before['gt_bboxes'].numpy()[positions]
    dst = after['gt_bboxes'].numpy()
    h, w = after['img_shape']
    for axis, size in ((0, w), (1, h)):
        lo, hi = dst[:, axis], dst[:, axis + 2]
        free = (lo > 1e-3) & (lo < size - 1e-3)  # unclipped coordinates give the offset
        if free.any():
            shift = float((lo - src[:, axis])[free][0])
            moved = np.clip(src[:, [axis, axis + 2]] + shift, 0, size)
            np.testing.assert_allclose(np.stack([lo, hi], 1), moved, atol=1e-2)


def check_inside(results):
    boxes = results['gt_bboxes'].numpy()
    h, w = results['img_shape']
    assert np.isfinite(boxes).all()
    assert (boxes[:, 0::2] >= -1e-4).all() and (boxes[:, 0::2] <= w + 1e-4).all()
    assert (boxes[:, 1::2] >= -1e-4).all() and (boxes[:, 1::2] <= h + 1e-4).all()
    assert (boxes[:, 2:] >= boxes[:, :2] - 1e-4).all()
    n = len(boxes)
    assert len(results['gt_bboxes_labels']) == n and len(results['gt_ignore_flags']) == n


def test_fuzz_ssd_training_transforms():
    # The shipped SSD augmentation (configs/_base_/datasets/ssd_pipeline.py) at OUT px.
    fuzzed = ('ssd_plugin.Expand', 'ssd_plugin.MinIoURandomCrop', 'Resize', 'RandomFlip')
    steps = [
        dict(step, scale=(OUT, OUT)) if step['type'] == 'Resize' else step
        for step in get_config('_base_/datasets/ssd_pipeline.py').to_dict()['train_pipeline']
        if step['type'] in fuzzed + ('ssd_plugin.PhotoMetricDistortion',)
    ]
    assert [step['type'] for step in steps[:4]] == list(fuzzed), steps
    expand, crop, *rest = [build(step) for step in steps]
    rng = np.random.default_rng(2024)
    kept = 0
    for case in range(CASES):
        np.random.seed(case)  # the transforms draw from numpy's global generator
        results = random_case(rng)
        original = {k: (v.clone() if k == 'gt_bboxes' else v) for k, v in results.items()}
        results = expand(results)
        check_translation(original, results)
        before_crop = {k: (v.clone() if k == 'gt_bboxes' else v) for k, v in results.items()}
        results = crop(results)
        assert results is not None, case
        check_inside(results)
        check_translation(before_crop, results)
        for transform in rest:
            results = transform(results)
        check_inside(results)
        assert results['img'].shape == (OUT, OUT, 3) and results['img'].dtype == np.uint8
        ids = list(results['gt_bboxes_labels'])
        assert len(set(ids)) == len(ids) and set(ids) <= set(original['gt_bboxes_labels'])
        kept += len(ids)
    assert kept > CASES  # boxes survive often enough for the checks to matter
