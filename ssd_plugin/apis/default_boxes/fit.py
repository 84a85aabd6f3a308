"""Search of per-level default-box sizes and aspect ratios for a training set.

The levels and their strides stay those of the model (the backbone and neck
fix them); at each level ``k`` the search varies what SSD §2.2 leaves to the
designer: the side ``min_size_k`` of the square and ratio boxes, the extra
square's side ``sqrt(min_size_k * max_size_k)`` and the aspect ratios
``a_r`` (each adds ``w/h = a_r`` and ``1/a_r``). The number of ratios per
level, hence of boxes per location, is kept unless ``num_ratios`` is given.

Objective, lexicographic: the number of ground truths whose best default box
reaches ``pos_iou_thr`` (coverage), then their mean best IoU. The search is a
coordinate ascent over levels: for one level every combination of a size, an
extra-square side and a ratio set is scored at once against the best IoU the
other levels give, the best is kept, and the passes repeat until no level
changes. A box shape's best IoU with a ground truth is at the grid centre
nearest to its centre, so each candidate costs one vectorised IoU per ground
truth (:func:`shape_ious`), the same figure ``bbox_overlaps`` gives on the
generator's boxes (tested). The configured boxes are one of the candidates,
so the fit never scores below them on the boxes it sees.
"""

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .coverage import _featmap_sizes, level_geometry
from .errors import DefaultBoxesError
from .ground_truth import GroundTruth

__all__ = ['DEFAULT_RATIO_GRID', 'FitResult', 'fit_default_boxes', 'shape_ious', 'stock_settings']

DEFAULT_RATIO_GRID = (1.5, 2.0, 2.5, 3.0, 4.0)
_SIZE_STEP = 1.12  # geometric step of the size grid
_MAX_EXTRA = 3.0  # the extra square's side is 1 to 3 times min_size (max_size <= 9 min_size)


@dataclass
class FitResult:
    """Fitted settings, one entry per level.

    Attributes:
        min_sizes, max_sizes: Sides in input pixels.
        ratios: Aspect ratios (besides 1) per level.
        unchanged: ``(level, reason)`` of the levels the search could not
            improve, kept as configured.
        sample_size: Ground truths the search scored.
    """

    min_sizes: List[float]
    max_sizes: List[float]
    ratios: List[List[float]]
    unchanged: List[Tuple[int, str]] = field(default_factory=list)
    sample_size: int = 0


def stock_settings(generator, cfg_ratios: Sequence[Sequence[float]]) -> Tuple[List, List, List]:
    """``(min_sizes, max_sizes, ratios)`` of a built SSD anchor generator.

    Works for the plugin's and mmdet's ``SSDAnchorGenerator``: the extra
    square has side ``min_size * scales[1]``, i.e. ``max = min * scales[1]^2``.
    """
    mins = [float(s) for s in generator.base_sizes]
    maxs = [float(m * float(sc[1]) ** 2) for m, sc in zip(mins, generator.scales)]
    return mins, maxs, [[float(r) for r in level] for level in cfg_ratios]


def shape_ious(wa: Tensor, ha: Tensor, gw: Tensor, gh: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """IoU of boxes ``(wa, ha)`` and ground truths ``(gw, gh)``, centres ``(dx, dy)`` apart.

    Args:
        wa, ha: ``(S, 1)`` box shapes (or any shape broadcasting with the rest).
        gw, gh, dx, dy: ``(N,)`` ground-truth shapes and absolute centre offsets.

    Returns:
        ``(S, N)`` IoU.
    """
    ix = torch.minimum(torch.minimum(wa, gw), (wa + gw) / 2 - dx).clamp(min=0)
    iy = torch.minimum(torch.minimum(ha, gh), (ha + gh) / 2 - dy).clamp(min=0)
    inter = ix * iy
    return inter / (wa * ha + gw * gh - inter).clamp(min=1e-6)


def _offsets(gt: GroundTruth, generator) -> List[Tuple[Tensor, Tensor]]:
    """``(dx, dy)`` of every ground truth to the nearest centre of each level, ``(N,)`` each."""
    boxes = torch.from_numpy(gt.boxes).float()
    gx, gy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    shapes, inverse = np.unique(gt.input_shapes, axis=0, return_inverse=True)
    inverse = torch.from_numpy(inverse.reshape(-1))
    fm = [_featmap_sizes(generator, int(h), int(w)) for h, w in shapes]
    out = []
    for k, ((sw, sh), (cx, cy), _) in enumerate(level_geometry(generator)):
        fh = torch.tensor([f[k][0] for f in fm])[inverse]
        fw = torch.tensor([f[k][1] for f in fm])[inverse]
        ix = torch.minimum(torch.round((gx - cx) / sw).clamp(min=0), (fw - 1).float())
        iy = torch.minimum(torch.round((gy - cy) / sh).clamp(min=0), (fh - 1).float())
        out.append(((gx - (cx + ix * sw)).abs(), (gy - (cy + iy * sh)).abs()))
    return out


def _size_grid(gt: GroundTruth, extra: Sequence[float]) -> np.ndarray:
    sides = np.minimum(gt.boxes[:, 2] - gt.boxes[:, 0], gt.boxes[:, 3] - gt.boxes[:, 1])
    low = max(1.0, 0.7 * float(np.quantile(sides, 0.001)))
    high = 1.2 * float(gt.input_shapes.max())
    num = int(math.ceil(math.log(high / low) / math.log(_SIZE_STEP))) + 1
    grid = np.geomspace(low, high, num)
    return np.unique(np.round(np.concatenate([grid, np.asarray(extra, float)]), 2))


class _Level:
    """IoU of every candidate shape of one level with every ground truth."""

    def __init__(self, sizes: Tensor, ratios: Tensor, gw, gh, dx, dy) -> None:
        s = sizes[:, None]
        self.square = shape_ious(s, s, gw, gh, dx, dy)  # (G, N)
        rt = []
        for r in ratios.tolist():
            q = math.sqrt(r)
            wide = shape_ious(s * q, s / q, gw, gh, dx, dy)
            tall = shape_ious(s / q, s * q, gw, gh, dx, dy)
            rt.append(torch.maximum(wide, tall))
        self.ratio = torch.stack(rt, dim=1) if rt else torch.zeros(len(sizes), 0, len(gw))


def _score(best: Tensor, thr: float) -> Tensor:
    """Covered count plus mean best IoU (< 1): lexicographic in one number, ``(...,)``."""
    return (best >= thr).sum(-1).double() + best.double().mean(-1)


def _level_best(level: _Level, i: int, j: int, combo: Sequence[int]) -> Tensor:
    best = torch.maximum(level.square[i], level.square[j])
    for r in combo:
        best = torch.maximum(best, level.ratio[i, r])
    return best


def fit_default_boxes(
    generator,
    cfg_ratios: Sequence[Sequence[float]],
    gt: GroundTruth,
    pos_iou_thr: float,
    num_ratios: Optional[int] = None,
    ratio_grid: Sequence[float] = DEFAULT_RATIO_GRID,
    max_samples: int = 20000,
    seed: int = 0,
    max_passes: int = 4,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Fit per-level sizes and aspect ratios to ``gt``.

    Args:
        generator: The configured (built) SSD anchor generator: its levels,
            strides and grid are kept.
        cfg_ratios: Its ``ratios`` config (one list per level).
        gt: Ground truths at the network input.
        pos_iou_thr: The assigner's positive threshold.
        num_ratios: Ratios per level (boxes per location ``2 + 2 * n``);
            None keeps each level's count.
        ratio_grid: Aspect ratios the search may pick (the configured ones
            are added).
        max_samples: Ground truths scored (a seeded random subset above it).
        seed: Seed of the subset.
        max_passes: Coordinate-ascent passes over the levels at most.
        log: Progress lines.

    Returns:
        The :class:`FitResult`.

    Raises:
        DefaultBoxesError: for a ``num_ratios`` outside ``0..len(grid)``.
    """
    mins, maxs, ratios = stock_settings(generator, cfg_ratios)
    num_levels = len(mins)
    grid_r = sorted({round(float(r), 4) for r in ratio_grid} | {r for lv in ratios for r in lv})
    if num_ratios is not None and not 0 <= num_ratios <= len(grid_r):
        raise DefaultBoxesError(
            f'--max-ratios {num_ratios}: give 0 to {len(grid_r)} aspect ratios per level '
            f'(the search picks from {grid_r})'
        )
    if len(gt) > max_samples:
        rng = np.random.default_rng(seed)
        gt = gt.subset(np.sort(rng.choice(len(gt), max_samples, replace=False)))
    extras = [math.sqrt(a * b) for a, b in zip(mins, maxs)]
    sizes_np = _size_grid(gt, mins + extras)
    sizes = torch.from_numpy(sizes_np).float()
    ratio_t = torch.tensor(grid_r).float()
    boxes = torch.from_numpy(gt.boxes).float()
    gw, gh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    offsets = _offsets(gt, generator)

    def index_of(value: float) -> int:
        return int(np.argmin(np.abs(sizes_np - round(value, 2))))

    # current choice per level: (i: min size, j: extra square side, ratio indices)
    state = []
    for k in range(num_levels):
        combo = tuple(grid_r.index(round(r, 4)) for r in ratios[k])
        state.append((index_of(mins[k]), index_of(extras[k]), combo))
    with torch.no_grad():
        levels = [_Level(sizes, ratio_t, gw, gh, dx, dy) for dx, dy in offsets]
        current = [_level_best(levels[k], *state[k]) for k in range(num_levels)]
        stock_score = float(_score(torch.stack(current).amax(0), pos_iou_thr))
        changed = [False] * num_levels
        for p in range(max_passes):
            moved = False
            for k in range(num_levels):
                lv = levels[k]
                others = [current[q] for q in range(num_levels) if q != k]
                rest = torch.stack(others).amax(0) if others else torch.zeros_like(gw)
                n = len(state[k][2]) if num_ratios is None else num_ratios
                combos = list(itertools.combinations(range(len(grid_r)), n))
                if n == len(state[k][2]):
                    cur_score = float(_score(torch.maximum(rest, current[k]), pos_iou_thr))
                else:  # --max-ratios changes the count: the configured boxes are no candidate
                    cur_score = -1.0
                best = (cur_score, state[k])
                for i in range(len(sizes_np)):
                    js = [
                        j
                        for j in range(i, len(sizes_np))
                        if sizes_np[j] <= _MAX_EXTRA * sizes_np[i] + 1e-6
                    ]
                    base = torch.maximum(rest, lv.square[i])
                    if combos and combos[0]:
                        picks = torch.stack([lv.ratio[i, list(c)].amax(0) for c in combos])
                        cand = torch.maximum(base[None], picks)  # (C, N)
                    else:
                        cand = base[None]
                    full = torch.maximum(cand[:, None], lv.square[js][None])  # (C, J, N)
                    scores = _score(full, pos_iou_thr)
                    flat = int(torch.argmax(scores))
                    value = float(scores.reshape(-1)[flat])
                    if value > best[0] + 1e-9:
                        c, jj = divmod(flat, len(js))
                        best = (value, (i, js[jj], combos[c]))
                if best[1] != state[k]:
                    state[k] = best[1]
                    current[k] = _level_best(lv, *state[k])
                    changed[k] = moved = True
            score = float(_score(torch.stack(current).amax(0), pos_iou_thr))
            log(
                f'fit pass {p + 1}: coverage {int(score) / len(gw):.4f}, mean best IoU '
                f'{score - int(score):.4f} (configured boxes: {int(stock_score) / len(gw):.4f}, '
                f'{stock_score - int(stock_score):.4f}) on {len(gw)} ground truths'
            )
            if not moved:
                break
    result = FitResult([], [], [], sample_size=len(gw))
    for k in range(num_levels):
        stride = generator.strides[k]
        if not changed[k]:
            result.unchanged.append(
                (
                    k,
                    f'level {k} (stride {stride[0]:g}): no size or aspect ratio tried scores '
                    'better than the configured ones (coverage, then mean best IoU, with the '
                    'other levels as fitted); kept as configured',
                )
            )
            result.min_sizes.append(mins[k])
            result.max_sizes.append(maxs[k])
            result.ratios.append(list(ratios[k]))
            continue
        i, j, combo = state[k]
        m, e = float(sizes_np[i]), float(sizes_np[j])
        result.min_sizes.append(round(m, 2))
        result.max_sizes.append(round(e * e / m, 2))
        result.ratios.append([grid_r[c] for c in combo])
    return result
