"""Coverage figures: hand-computed cases, and the windowed search against the full IoU matrix."""

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import bbox_overlaps

from analysis_tools.default_box_analysis import coverage
from analysis_tools.default_box_analysis.coverage import (
    grid_offsets,
    match_default_boxes,
    shape_ious,
    size_bin,
    summarize,
)
from analysis_tools.default_box_analysis.ground_truth import GroundTruth
from ssd_plugin.models.task_modules.prior_generators import SSDAnchorGenerator


def _gt(boxes, shape=(20, 20)) -> GroundTruth:
    boxes = np.asarray(boxes, np.float32)
    return GroundTruth(boxes, np.tile(np.asarray(shape, np.int64), (len(boxes), 1)))


def test_hand_computed_coverage():
    # One level, stride 10 on a 20 x 20 input: cells centred at 5 and 15; per cell a
    # 10 x 10 square and a 20 x 20 extra square (sqrt(10 * 40)).
    gen = SSDAnchorGenerator(strides=[10], ratios=[[]], min_sizes=[10], max_sizes=[40])
    gt = _gt(
        [
            [0, 0, 10, 10],  # = square of cell (0, 0): IoU 1; extra square 100/400
            [0, 0, 20, 20],  # extra square of cell (0, 0): 225 / (400 + 400 - 225)
            [0, 0, 16, 16],  # extra square of cell (0, 0): 225 / (256 + 400 - 225)
            [0, 0, 20, 10],  # squares of cells (0, 0) and (1, 0): 100 / 200 each
        ]
    )
    res = match_default_boxes(gen, gt, pos_iou_thr=0.5)
    want = [1.0, 225 / 575, 225 / 431, 0.5]
    np.testing.assert_allclose(res.best_iou, want, rtol=1e-5)
    # positives: one each; the second only by the forced match; two for the last
    assert res.num_pos.tolist() == [1, 1, 1, 2]
    stats = summarize(res, gt.boxes)
    assert stats['all']['coverage'] == pytest.approx(0.75)
    assert stats['all']['mean_best_iou'] == pytest.approx(np.mean(want), rel=1e-5)
    assert stats['all']['positives_per_gt'] == pytest.approx(1.25)
    assert stats['per_size']['small']['num_gt'] == 4  # all areas < 32^2
    assert stats['per_size']['medium']['num_gt'] == 0
    assert stats['per_size']['medium']['coverage'] is None
    assert stats['all']['best_match_levels'] == [1.0]


def test_forced_match_floor_and_levels():
    # Two levels (strides 10 and 20 on 20 x 20): a 20 x 20 box matches level 1 exactly.
    gen = SSDAnchorGenerator(
        strides=[10, 20], ratios=[[], []], min_sizes=[10, 20], max_sizes=[10, 20]
    )
    gt = _gt([[0, 0, 20, 20], [2, 2, 7, 7]])  # 2nd: 25/100 with the square of cell (0, 0)
    res = match_default_boxes(gen, gt, pos_iou_thr=0.5, min_pos_iou=0.3)
    np.testing.assert_allclose(res.best_iou, [1.0, 0.25], rtol=1e-6)
    assert res.best_level.tolist() == [1, 0]
    # level 1 has the two identical squares (min and extra: max_size == min_size)
    assert res.pos_levels.tolist() == [[0, 2], [0, 0]]  # 0.25 < min_pos_iou: no forced match
    assert size_bin(np.array([[0, 0, 31, 33], [0, 0, 32, 32], [0, 0, 96, 96]])).tolist() == [
        0,
        1,
        2,
    ]


@pytest.mark.parametrize(
    'thr, step, whole_grid', [(0.4, None, False), (0.5, None, False), (0.5, 64, True)]
)
def test_windowed_search_equals_full_iou(thr, step, whole_grid, monkeypatch):
    # A 3-level generator on a non-square input: best IoU, its level and the count of
    # priors >= thr equal those of mmdet's bbox_overlaps on all priors; also when each
    # window is cut into many steps. With windows over the whole grid, the best IoU is
    # bitwise mmdet's (the per-axis overlaps use its float operations); with the
    # windows, a farther cell may be 1 ulp higher on an IoU plateau (below thr).
    if step is not None:
        monkeypatch.setattr(coverage, '_STEP_ELEMENTS', step)
    if whole_grid:
        monkeypatch.setattr(coverage, '_reach', lambda g, *_: torch.full_like(g, 1e4))
    gen = SSDAnchorGenerator(
        strides=[8, 16, 32],
        ratios=[[2], [2, 3], [3]],
        min_sizes=[12, 30, 60],
        max_sizes=[30, 60, 100],
    )
    h, w = 96, 128
    rng = np.random.default_rng(0)
    side = np.exp(rng.uniform(np.log(4), np.log(110), 600))
    aspect = np.exp(rng.uniform(np.log(0.25), np.log(4), 600))
    bw, bh = side * np.sqrt(aspect), side / np.sqrt(aspect)
    cx, cy = rng.uniform(-5, w + 5, 600), rng.uniform(-5, h + 5, 600)  # some off the grid
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    gt = _gt(boxes, (h, w))
    res = match_default_boxes(gen, gt, pos_iou_thr=thr, chunk_size=128)
    fm = [(int(np.ceil(h / s)), int(np.ceil(w / s))) for s in (8, 16, 32)]
    priors = gen.grid_priors(fm, device='cpu')
    level_of = torch.cat([torch.full((len(p),), k) for k, p in enumerate(priors)])
    ious = bbox_overlaps(torch.from_numpy(gt.boxes), torch.cat(priors))
    best, arg = ious.max(dim=1)
    if whole_grid:
        np.testing.assert_array_equal(res.best_iou, best.numpy())
    np.testing.assert_allclose(res.best_iou, best.numpy(), atol=1e-6)
    hit = best > 0
    assert (res.best_level[hit.numpy()] == level_of[arg][hit].numpy()).all()
    counts = torch.stack([((ious >= thr) & (level_of == k)).sum(1) for k in range(3)], 1)
    forced = (counts.sum(1) == 0) & hit
    counts[forced, level_of[arg][forced]] += 1
    assert (res.pos_levels == counts.numpy()).all()
    # the fit's closed form (nearest grid centre) gives the same best IoU per shape
    offsets = grid_offsets(gt, gen)
    gwh = torch.from_numpy(gt.boxes[:, 2:] - gt.boxes[:, :2])
    closed = []
    for k, base in enumerate(gen.base_anchors):
        wa, ha = (base[:, 2] - base[:, 0])[:, None], (base[:, 3] - base[:, 1])[:, None]
        closed.append(shape_ious(wa, ha, gwh[:, 0], gwh[:, 1], *offsets[k]).amax(0))
    np.testing.assert_allclose(torch.stack(closed).amax(0).numpy(), best.numpy(), atol=1e-5)
