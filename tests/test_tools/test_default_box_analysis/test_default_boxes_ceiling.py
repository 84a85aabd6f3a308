"""The grid's ceiling: hand-computed cases, a brute-force check, and the bound it sets."""

import numpy as np
import pytest
import torch

from analysis_tools.default_box_analysis.coverage import (
    best_centred_iou,
    ceiling_stats,
    grid_ceiling,
    match_default_boxes,
    min_square_side,
    shape_ious,
)
from analysis_tools.default_box_analysis.ground_truth import GroundTruth
from analysis_tools.default_box_analysis.report import describe_ceiling, describe_fit_gap
from ssd_plugin.models.task_modules.prior_generators import SSDAnchorGenerator


def _gt(centres_sizes, shape=(64, 64)) -> GroundTruth:
    boxes = np.array(
        [[x - w / 2, y - h / 2, x + w / 2, y + h / 2] for x, y, w, h in centres_sizes], np.float32
    )
    return GroundTruth(boxes, np.tile(np.asarray(shape, np.int64), (len(boxes), 1)))


# (g_w, g_h, d_x, d_y) -> best IoU, by hand from the four corner cases:
CASES = [
    # a 16 px square at the worst offset of a stride-16 grid: only a box around it,
    # 32 x 32: 256 / 1024
    (16, 16, 8, 8, 0.25),
    # a 20 px square 4 px off along x: 28 x 20 around it, 400 / 560 (inside: 240 / 400)
    (20, 20, 4, 0, 5 / 7),
    # 40 x 10, 2 and 3 px off: inside along x (36 wide), around along y (16 high):
    # 360 / (400 + 2 * 3 * 36) beats around-around 400 / (44 * 16) = 0.568
    (40, 10, 2, 3, 360 / 616),
    (30, 30, 0, 0, 1.0),  # on a centre: the box itself
]


@pytest.mark.parametrize('gw, gh, dx, dy, want', CASES)
def test_best_centred_iou_hand_computed(gw, gh, dx, dy, want):
    assert float(best_centred_iou(gw, gh, dx, dy)) == pytest.approx(want, rel=1e-12)


def test_best_centred_iou_beats_every_box_of_a_fine_grid():
    # brute force over box shapes: nothing exceeds the closed form, and the best comes
    # within the grid's resolution of it
    rng = np.random.default_rng(0)
    side = torch.linspace(0.5, 120, 600, dtype=torch.float64)
    wa, ha = side[:, None, None], side[None, :, None]
    for _ in range(40):
        gw, gh = rng.uniform(4, 60, 2)
        dx, dy = rng.uniform(0, 20, 2)
        args = [torch.tensor([v], dtype=torch.float64) for v in (gw, gh, dx, dy)]
        brute = float(shape_ious(wa, ha, *args).max())
        closed = float(best_centred_iou(*args))
        assert brute <= closed + 1e-12
        assert brute >= closed - 0.01


def test_grid_ceiling_hand_made_boxes():
    # stride 16 on 64 x 64: centres at 8, 24, 40, 56
    gen = SSDAnchorGenerator(strides=[16], ratios=[[]], min_sizes=[16], max_sizes=[16])
    gt = _gt(
        [
            (16, 16, 16, 16),  # 8 px off both ways: 0.25
            (12, 8, 20, 20),  # (4, 0): 5/7
            (10, 11, 40, 10),  # (2, 3): 360/616
            (70, 70, 16, 16),  # off the grid: nearest centre (56, 56), 14 px off
        ]
    )
    ceil = grid_ceiling(gen, gt, 0.5)
    want = [0.25, 5 / 7, 360 / 616, 256 / (44 * 44)]
    np.testing.assert_allclose(ceil.best_iou, want, rtol=1e-6)
    np.testing.assert_allclose(ceil.offsets, [[8, 8], [4, 0], [2, 3], [14, 14]])
    assert ceil.reachable.tolist() == [False, True, True, False]
    stats = ceiling_stats(ceil, gt.boxes)
    assert stats['all']['coverage_ceiling'] == 0.5
    assert stats['per_size']['small']['coverage_ceiling'] == 0.5  # all four are small
    assert stats['per_size']['medium']['coverage_ceiling'] is None
    text = ' '.join(describe_ceiling(ceil, gt, gen.strides))
    assert '2 of 4 ground truths' in text and '2 of 4 small' in text
    assert 'stride 16' in text and 'up to 8 x 8 px' in text
    assert 'lower pos_iou_thr' in text


def test_grid_ceiling_is_reached_by_the_best_box_and_bounds_any_boxes():
    # the box of the best corner, as a default box, reaches the ceiling exactly...
    gt = _gt([(12, 8, 20, 20)])
    # (28 x 20 centred at (8, 8): the wide box of ratio 1.4 at side 28 / sqrt(1.4))
    side = 28 / 1.4**0.5
    best = SSDAnchorGenerator(strides=[16], ratios=[[1.4]], min_sizes=[side], max_sizes=[side])
    assert best.base_anchors[0][2].tolist() == pytest.approx([-6, -2, 22, 18], abs=1e-5)
    res = match_default_boxes(best, gt, 0.5)
    assert float(res.best_iou[0]) == pytest.approx(5 / 7, rel=1e-6)
    # ... and no default boxes beat it, on any level (random boxes, 3 levels)
    rng = np.random.default_rng(1)
    n = 400
    side = np.exp(rng.uniform(np.log(4), np.log(60), n))
    aspect = np.exp(rng.uniform(-1, 1, n))
    cx, cy = rng.uniform(0, 96, n), rng.uniform(0, 96, n)
    gt = _gt(np.stack([cx, cy, side * aspect, side / aspect], 1), (96, 96))
    gen = SSDAnchorGenerator(
        strides=[8, 16, 32], ratios=[[2], [2, 3], [3]], min_sizes=[10, 25, 50],
        max_sizes=[25, 50, 90],
    )  # fmt: skip
    ceil = grid_ceiling(gen, gt, 0.5)
    res = match_default_boxes(gen, gt, 0.5)
    assert (res.best_iou <= ceil.best_iou + 1e-6).all()
    assert ceil.reachable.sum() >= (res.best_iou >= 0.5).sum()


def test_min_square_side():
    # stride 16, 8 px off both ways, IoU 0.5: a box around it, s^2 / (s + 16)^2 = 0.5
    want = 16 * 0.5**0.5 / (1 - 0.5**0.5)
    assert min_square_side(16, 0.5) == pytest.approx(want, rel=1e-6)


def test_describe_fit_gap():
    # 8 and 16 px squares on stride-16 centres: both within the ceiling (IoU 1 there), the
    # 16 px boxes cover only the second (64 / 256 for the first)
    gen = SSDAnchorGenerator(strides=[16], ratios=[[]], min_sizes=[16], max_sizes=[16])
    gt = _gt([(8, 8, 8, 8), (24, 24, 16, 16)])
    ceil = grid_ceiling(gen, gt, 0.5)
    best = match_default_boxes(gen, gt, 0.5).best_iou
    np.testing.assert_allclose(best, [0.25, 1.0])
    text = ' '.join(describe_fit_gap(ceil, best, gt, gen.strides, [(16.0, 16.0)]))
    assert text.startswith('fit gap: 1 ground truths are within the ceiling')
    assert '100% of them are best placed on level 0 (stride 16)' in text
    assert 'two sides, 16.00 px' in text
    assert describe_fit_gap(ceil, np.array([1.0, 1.0]), gt, gen.strides, [(16.0, 16.0)]) == []
