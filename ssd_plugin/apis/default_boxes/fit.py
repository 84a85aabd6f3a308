"""Search of per-level default-box sizes and aspect ratios for a training set.

The levels and their strides stay those of the model (the backbone and neck
fix them); at each level ``k`` the search varies what SSD §2.2 leaves to the
designer: the side ``min_size_k`` of the square and ratio boxes, the extra
square's side ``sqrt(min_size_k * max_size_k)`` and the aspect ratios
``a_r`` (each adds ``w/h = a_r`` and ``1/a_r``). The number of ratios per
level, hence of boxes per location, is kept unless ``num_ratios`` is given.

Objective, lexicographic: first every COCO size bin keeps its coverage at or
above its floor (the configured boxes' own, unless given), so that the fit
never trades the few objects of one size for the many of another; then the
number of ground truths whose best default box reaches ``pos_iou_thr``
(coverage); then their mean best IoU. Per level, ``min_size`` and
``max_size`` stay between those of the neighbouring levels in stride order
(sizes rise with the stride) unless ``ordered_sizes=False``. The search is a
coordinate ascent over levels: for one level every combination of a size, an
extra-square side and a ratio set is scored at once against the best IoU the
other levels give, the best is kept, and the passes repeat until no level
changes. A box shape's best IoU with a ground truth is at the grid centre
nearest to its centre, so each candidate costs one vectorised IoU per ground
truth (:func:`shape_ious`), the same figure ``bbox_overlaps`` gives on the
generator's boxes (tested). The configured boxes are one of the candidates,
so the fit never scores below them on the boxes it sees. Sizes are rounded
to 0.01 px.
"""

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .ceiling import grid_offsets
from .coverage import SIZE_BINS, size_bin
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
        floors: Coverage each size bin had to keep (shares of its ground
            truths in the sample).
        shortfall: Covered ground truths missing below a bin's floor, for
            bins the search could not bring up to it (configured floors
            above what any candidate reaches); empty when all are met.
        notes: Lines about constraints that could not apply.
    """

    min_sizes: List[float]
    max_sizes: List[float]
    ratios: List[List[float]]
    unchanged: List[Tuple[int, str]] = field(default_factory=list)
    sample_size: int = 0
    floors: Dict[str, float] = field(default_factory=dict)
    shortfall: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def stock_settings(generator, cfg_ratios: Sequence[Sequence[float]]) -> Tuple[List, List, List]:
    """``(min_sizes, max_sizes, ratios)`` of a built SSD anchor generator.

    Works for the plugin's and mmdet's ``SSDAnchorGenerator``: the extra
    square has side ``min_size * scales[1]``, i.e. ``max = min * scales[1]^2``
    (the generator's own ``max_sizes`` where it keeps them: no float residue).
    """
    mins = [float(s) for s in generator.base_sizes]
    maxs = [float(m * float(sc[1]) ** 2) for m, sc in zip(mins, generator.scales)]
    kept = getattr(generator, 'max_sizes', None)
    if kept is not None and len(kept) == len(maxs):
        maxs = [float(v) for v in kept]
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


def _score(best: Tensor, thr: float, onehot: Tensor, need: Tensor) -> Tensor:
    """Lexicographic score in one float64 number, ``(...,)`` for ``best`` ``(..., N)``.

    First the shortfall below the size bins' floors (``need``: covered
    ground truths each bin must keep, ``onehot`` ``(N, B)`` their bins),
    then the covered count, then the mean best IoU (< 1).
    """
    covered = best >= thr
    counts = covered.to(onehot.dtype) @ onehot  # (..., B)
    short = (need - counts).clamp(min=0).sum(-1)
    num = best.shape[-1]
    return -short * (num + 1) + covered.sum(-1).double() + best.double().mean(-1)


def _split(score: float, num: int) -> Tuple[int, int, float]:
    """``(shortfall, covered, mean best IoU)`` of a :func:`_score` value."""
    short = int(math.ceil(-score / (num + 1) - 1e-9)) if score < 0 else 0
    rest = score + short * (num + 1)
    return short, int(math.floor(rest + 1e-9)), rest - math.floor(rest + 1e-9)


def _level_best(level: _Level, i: int, j: int, combo: Sequence[int]) -> Tensor:
    best = torch.maximum(level.square[i], level.square[j])
    for r in combo:
        best = torch.maximum(best, level.ratio[i, r])
    return best


def _bin_needs(
    gt_bins: np.ndarray, stock_best: Tensor, thr: float, floors: Optional[Dict[str, float]]
) -> Tuple[Tensor, Dict[str, float]]:
    """Covered ground truths each size bin must keep, ``(B,)``, and the floors as shares.

    A bin without a configured floor keeps the configured boxes' count on the
    sample (so the configured boxes always meet it).
    """
    floors = dict(floors or {})
    unknown = set(floors) - set(SIZE_BINS)
    if unknown:
        raise DefaultBoxesError(
            f'--min-coverage: unknown size bin(s) {sorted(unknown)}; give {list(SIZE_BINS)}'
        )
    need, used = [], {}
    covered = (stock_best >= thr).numpy()
    for b, name in enumerate(SIZE_BINS):
        sel = gt_bins == b
        n = int(sel.sum())
        if name in floors:
            value = float(floors[name])
            if not 0 <= value <= 1:
                raise DefaultBoxesError(f'--min-coverage {name}={value:g}: give 0 to 1')
            need.append(math.ceil(value * n - 1e-9))
        else:
            need.append(int(covered[sel].sum()))
            value = need[-1] / n if n else 0.0
        used[name] = value
    return torch.tensor(need, dtype=torch.float64), used


def _ordered_bounds(
    k: int, mins: List[float], maxs: List[float], order: List[int]
) -> Optional[Tuple[float, float, float, float]]:
    """``(lo_min, hi_min, lo_max, hi_max)`` that keep level ``k``'s sizes between its
    neighbours' in stride order; None when the other levels are not ordered themselves."""
    pos = order.index(k)
    below, above = order[:pos], order[pos + 1 :]
    lo_m = max((mins[q] for q in below), default=0.0)
    hi_m = min((mins[q] for q in above), default=math.inf)
    lo_x = max((maxs[q] for q in below), default=0.0)
    hi_x = min((maxs[q] for q in above), default=math.inf)
    if lo_m > hi_m + 1e-6 or lo_x > hi_x + 1e-6:
        return None
    return lo_m, hi_m, lo_x, hi_x


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
    min_coverage: Optional[Dict[str, float]] = None,
    ordered_sizes: bool = True,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Fit per-level sizes and aspect ratios to ``gt``.

    Objective, lexicographic: every COCO size bin keeps its coverage at or
    above its floor (``min_coverage``, else the configured boxes' coverage),
    then the overall coverage, then the mean best IoU, all on the scored
    sample. With ``ordered_sizes`` each level's ``min_size`` and
    ``max_size`` lie between those of its neighbours in stride order.

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
        min_coverage: Floors per size bin (``{'small': 0.6}``), shares of
            the bin's ground truths; bins not given keep the configured
            boxes' coverage.
        ordered_sizes: Keep sizes rising with the stride.
        log: Progress lines.

    Returns:
        The :class:`FitResult`, sizes rounded to 0.01 px.

    Raises:
        DefaultBoxesError: for a ``num_ratios`` outside ``0..len(grid)`` or
            an unknown bin or share in ``min_coverage``.
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
    offsets = grid_offsets(gt, generator)
    bins = size_bin(gt.boxes)
    onehot = torch.from_numpy((bins[:, None] == np.arange(len(SIZE_BINS))[None]).astype(np.float64))
    order = sorted(range(num_levels), key=lambda q: (max(generator.strides[q]), q))

    def index_of(value: float) -> int:
        return int(np.argmin(np.abs(sizes_np - round(value, 2))))

    def settings(state_k) -> Tuple[float, float]:
        i, j, _ = state_k
        return round(float(sizes_np[i]), 2), round(float(sizes_np[j] ** 2 / sizes_np[i]), 2)

    # current choice per level: (i: min size, j: extra square side, ratio indices)
    state = []
    for k in range(num_levels):
        combo = tuple(grid_r.index(round(r, 4)) for r in ratios[k])
        state.append((index_of(mins[k]), index_of(extras[k]), combo))
    initial = list(state)
    cur_mins, cur_maxs = list(mins), list(maxs)  # sizes of the levels as they stand
    notes: List[str] = []
    with torch.no_grad():
        levels = [_Level(sizes, ratio_t, gw, gh, dx, dy) for dx, dy in offsets]
        current = [_level_best(levels[k], *state[k]) for k in range(num_levels)]
        stock_best = torch.stack(current).amax(0)
        need, floors = _bin_needs(bins, stock_best, pos_iou_thr, min_coverage)
        stock_score = float(_score(stock_best, pos_iou_thr, onehot, need))
        for p in range(max_passes):
            moved = False
            for k in range(num_levels):
                lv = levels[k]
                others = [current[q] for q in range(num_levels) if q != k]
                rest = torch.stack(others).amax(0) if others else torch.zeros_like(gw)
                n = len(state[k][2]) if num_ratios is None else num_ratios
                combos = list(itertools.combinations(range(len(grid_r)), n))
                if n == len(state[k][2]):
                    cur = torch.maximum(rest, current[k])
                    cur_score = float(_score(cur, pos_iou_thr, onehot, need))
                else:  # --max-ratios changes the count: the configured boxes are no candidate
                    cur_score = -math.inf
                bounds = _ordered_bounds(k, cur_mins, cur_maxs, order) if ordered_sizes else None
                if ordered_sizes and bounds is None and p == 0:
                    notes.append(
                        f"level {k}: the other levels' sizes do not rise with the stride, so "
                        "this level's sizes are not kept between theirs"
                    )
                best = (cur_score, state[k])
                for i in range(len(sizes_np)):
                    m = round(float(sizes_np[i]), 2)
                    js = [
                        j
                        for j in range(i, len(sizes_np))
                        if sizes_np[j] <= _MAX_EXTRA * sizes_np[i] + 1e-6
                    ]
                    if bounds is not None:
                        lo_m, hi_m, lo_x, hi_x = bounds
                        if not lo_m - 1e-6 <= m <= hi_m + 1e-6:
                            continue
                        js = [
                            j
                            for j in js
                            if lo_x - 1e-6
                            <= round(float(sizes_np[j] ** 2 / sizes_np[i]), 2)
                            <= hi_x + 1e-6
                        ]
                    if not js:
                        continue
                    base = torch.maximum(rest, lv.square[i])
                    if combos and combos[0]:
                        picks = torch.stack([lv.ratio[i, list(c)].amax(0) for c in combos])
                        cand = torch.maximum(base[None], picks)  # (C, N)
                    else:
                        cand = base[None]
                    full = torch.maximum(cand[:, None], lv.square[js][None])  # (C, J, N)
                    scores = _score(full, pos_iou_thr, onehot, need)
                    flat = int(torch.argmax(scores))
                    value = float(scores.reshape(-1)[flat])
                    if value > best[0] + 1e-9:
                        c, jj = divmod(flat, len(js))
                        best = (value, (i, js[jj], combos[c]))
                if best[1] != state[k]:
                    state[k] = best[1]
                    current[k] = _level_best(lv, *state[k])
                    cur_mins[k], cur_maxs[k] = settings(state[k])
                    moved = True
            score = float(_score(torch.stack(current).amax(0), pos_iou_thr, onehot, need))
            short, covered, mean = _split(score, len(gw))
            s_short, s_covered, s_mean = _split(stock_score, len(gw))
            log(
                f'fit pass {p + 1}: coverage {covered / len(gw):.4f}, mean best IoU '
                f'{mean:.4f} (configured boxes: {s_covered / len(gw):.4f}, {s_mean:.4f}) on '
                f'{len(gw)} ground truths'
                + (f"; {short} short of the size bins' floors" if short else '')
            )
            if not moved:
                break
    final = torch.stack(current).amax(0)
    covered_bins = ((final >= pos_iou_thr).double() @ onehot).tolist()
    result = FitResult([], [], [], sample_size=len(gw), floors=floors, notes=notes)
    result.shortfall = {
        name: int(max(0, need[b] - covered_bins[b]))
        for b, name in enumerate(SIZE_BINS)
        if need[b] > covered_bins[b]
    }
    for k in range(num_levels):
        stride = generator.strides[k]
        if state[k] == initial[k]:
            result.unchanged.append(
                (
                    k,
                    f'level {k} (stride {stride[0]:g}): no size or aspect ratio tried scores '
                    'better than the configured ones (size-bin floors, coverage, then mean '
                    'best IoU, with the other levels as fitted); kept as configured',
                )
            )
            result.min_sizes.append(round(mins[k], 2))
            result.max_sizes.append(round(maxs[k], 2))
            result.ratios.append(list(ratios[k]))
            continue
        m, mx = settings(state[k])
        result.min_sizes.append(m)
        result.max_sizes.append(mx)
        result.ratios.append([grid_r[c] for c in state[k][2]])
    return result
