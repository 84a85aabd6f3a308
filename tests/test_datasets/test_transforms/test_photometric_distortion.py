"""Tests of ssd_plugin's PhotoMetricDistortion (SSD §2.2)."""

import cv2
import numpy as np
import pytest
from mmdet.datasets.transforms import PhotoMetricDistortion as MMDetPhotoMetricDistortion
from mmengine.registry import DefaultScope

from ssd_plugin.datasets.transforms import PhotoMetricDistortion
from ssd_plugin.registry import TRANSFORMS

IDENTITY = np.arange(3)


def build(cfg: dict):
    """Build a transform with default scope ssd_plugin, as configs do."""
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return TRANSFORMS.build(cfg)


def with_params(t, mode=0, b=0, c=0, s=0, h=0, swap=0, delta=0.0, alpha=1.0, sat=1.0, hue=0.0,
                perm=IDENTITY):  # fmt: skip
    t._random_flags = lambda: (mode, b, c, s, h, swap, delta, alpha, sat, hue, np.asarray(perm))
    return t


def smooth_image(h=48, w=64, low=0, high=255, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.uniform(low, high, (4, 5, 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def run(t, img, seed):
    np.random.seed(seed)
    return t(dict(img=img.copy()))['img']


def test_scope_switches_between_ours_and_mmdet():
    assert type(build(dict(type='PhotoMetricDistortion'))) is PhotoMetricDistortion
    assert type(build(dict(type='mmdet.PhotoMetricDistortion'))) is MMDetPhotoMetricDistortion
    assert 'hue_delta=18' in repr(build(dict(type='PhotoMetricDistortion')))


def test_uint8_brightness_and_contrast_hand_computed():
    img = np.array([[[0, 100, 250]]], np.uint8)
    t = build(dict(type='PhotoMetricDistortion'))
    out = with_params(t, b=1, delta=10.4)(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and out.tolist() == [[[10, 110, 255]]]  # 260.4 saturates
    out = with_params(t, c=1, alpha=1.5)(dict(img=img.copy()))['img']
    assert out.tolist() == [[[0, 150, 255]]]
    # Saturation after every step: (250 - 20) * 0.5 = 115; 0 - 20 -> 0 (mmdet: -10.0).
    out = with_params(t, mode=1, b=1, c=1, delta=-20.0, alpha=0.5)(dict(img=img.copy()))['img']
    assert out.tolist() == [[[0, 40, 115]]]
    # (250 + 30) * 0.5: saturated to 255 first, so 127.5 -> 128 (mmdet: 140.0).
    out = with_params(t, mode=1, b=1, c=1, delta=30.0, alpha=0.5)(dict(img=img.copy()))['img']
    assert out.tolist() == [[[15, 65, 128]]]


def test_uint8_saturation_hue_and_swap_hand_computed():
    t = build(dict(type='PhotoMetricDistortion'))
    # BGR (100, 150, 200): V = 200, S = 0.5; S * 0.5 moves every channel
    # halfway to V: (150, 175, 200).
    img = np.array([[[100, 150, 200]]], np.uint8)
    out = with_params(t, s=1, sat=0.5)(dict(img=img.copy()))['img']
    assert out.tolist() == [[[150, 175, 200]]]
    # Saturation 4: S clipped to 1, so the smallest channel goes to 0.
    out = with_params(t, s=1, sat=4.0)(dict(img=img.copy()))['img']
    assert out.tolist() == [[[0, 100, 200]]]
    # Pure red (H = 0): +12 degrees -> G = 255 * 12 / 60 = 51; -12 wraps to 348 -> B = 51.
    red = np.array([[[0, 0, 255]]], np.uint8)
    assert with_params(t, h=1, hue=12.0)(dict(img=red.copy()))['img'].tolist() == [[[0, 51, 255]]]
    assert with_params(t, h=1, hue=-12.0)(dict(img=red.copy()))['img'].tolist() == [[[51, 0, 255]]]
    # Contrast after the HSV step (mode 0), then the channel permutation.
    out = with_params(t, mode=0, c=1, s=1, swap=1, alpha=0.5, sat=0.5, perm=[2, 0, 1])(
        dict(img=img.copy())
    )['img']
    assert out.tolist() == [[[100, 75, 88]]]  # (75, 87.5, 100) -> round half even -> permuted
    off = build(dict(type='PhotoMetricDistortion', random_channel_swap=False))
    out = with_params(off, swap=1, perm=[2, 0, 1])(dict(img=img.copy()))['img']
    assert out.tolist() == img.tolist()


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_float_input_matches_mmdet_value_for_value(dtype):
    """Float images take mmdet's unclipped float32 arithmetic: |diff| < 1e-3."""
    img = smooth_image().astype(dtype)
    # A dark stripe: after a negative brightness step all three channels are
    # negative, where OpenCV's float HSV round trip is not an identity.
    img[:6] = np.random.default_rng(1).uniform(0, 20, img[:6].shape)
    ours, theirs = (
        build(dict(type='PhotoMetricDistortion')),
        build(dict(type='mmdet.PhotoMetricDistortion')),
    )
    went_negative = 0
    for seed in range(150):
        a, b = run(ours, img, seed), run(theirs, img, seed)
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=0)
        went_negative += b.min() < 0
    assert went_negative > 10  # unclipped values were exercised


def test_uint8_equals_rounded_mmdet_when_nothing_saturates():
    """Values stay in [0, 255] all along: ours == mmdet rounded (one rounding)."""
    img = smooth_image(low=90, high=150)
    cfg = dict(brightness_delta=16, contrast_range=(0.8, 1.2))
    ours = build(dict(type='PhotoMetricDistortion', **cfg))
    theirs = build(dict(type='mmdet.PhotoMetricDistortion', **cfg))
    for seed in range(150):
        a, b = run(ours, img, seed), run(theirs, img, seed)
        assert a.dtype == np.uint8 and 0 <= b.min() and b.max() <= 255
        assert np.abs(a - b).max() <= 0.5 + 1e-3


def test_uint8_statistics_match_clipped_mmdet():
    """Default ranges, where mmdet's float path leaves [0, 255]. Over 200 seeds:
    mean |ours - clip(mmdet)| < 1.5 levels, the mean of per-image means within
    1 level and the spread (std) of per-image means within 5%."""
    img = smooth_image(seed=3)
    ours, theirs = (
        build(dict(type='PhotoMetricDistortion')),
        build(dict(type='mmdet.PhotoMetricDistortion')),
    )
    diffs, means_a, means_b = [], [], []
    for seed in range(200):
        a = run(ours, img, seed).astype(np.float32)
        b = np.clip(run(theirs, img, seed), 0, 255)
        diffs.append(np.abs(a - b).mean())
        means_a.append(a.mean())
        means_b.append(b.mean())
    assert np.mean(diffs) < 1.5
    assert abs(np.mean(means_a) - np.mean(means_b)) < 1.0
    assert abs(np.std(means_a) / np.std(means_b) - 1) < 0.05


@pytest.mark.parametrize('dtype', [np.uint8, np.float32])
def test_gray_images_get_what_each_channel_of_their_bgr_copy_gets(dtype):
    gray = smooth_image()[..., 0].astype(dtype)
    bgr = np.repeat(gray[..., None], 3, axis=2)
    t = build(dict(type='PhotoMetricDistortion'))
    for seed in range(60):
        expected = run(t, bgr, seed)[..., 0]
        for img in (gray, gray[..., None]):
            out = run(t, img, seed)
            assert out.shape == img.shape
            np.testing.assert_allclose(out.reshape(gray.shape), expected, atol=1e-3, rtol=0)


def test_other_channel_counts_raise_and_dtypes():
    t = build(dict(type='PhotoMetricDistortion'))
    for channels in (2, 4):
        with pytest.raises(ValueError, match='channels'):
            t(dict(img=np.zeros((4, 4, channels), np.uint8)))
    assert run(t, smooth_image().astype(np.uint16), 0).dtype == np.float32  # mmdet's float path
    with pytest.raises(KeyError, match='img'):
        t(dict())
