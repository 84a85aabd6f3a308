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
truth (:func:`.coverage.shape_ious`), the same figure ``bbox_overlaps`` gives
on the generator's boxes (tested). The configured boxes are one of the
candidates, so the fit never scores below them on the boxes it sees. Sizes
are rounded to 0.01 px.
"""

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .coverage import SIZE_BINS, grid_offsets, shape_ious, size_bin
from .ground_truth import DefaultBoxesError, GroundTruth

_RATIO_GRID = (1.5, 2.0, 2.5, 3.0, 4.0)  # aspect ratios the search picks from, and the configured
_MAX_PASSES = 4  # coordinate-ascent passes over the levels at most
_SIZE_STEP = 1.12  # geometric step of the size grid
_MAX_EXTRA = 3.0  # the extra square's side is 1 to 3 times min_size (max_size <= 9 min_size)

# A level's choice: (index of min_size, index of the extra square's side, ratio indices).
Choice = Tuple[int, int, Tuple[int, ...]]


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


def _split(score: float, num: int) -> Tuple[int, int, float]:
    """``(shortfall, covered, mean best IoU)`` of a :meth:`_Search.score` value."""
    short = int(math.ceil(-score / (num + 1) - 1e-9)) if score < 0 else 0
    rest = score + short * (num + 1)
    return short, int(math.floor(rest + 1e-9)), rest - math.floor(rest + 1e-9)


class _Search:
    """What the search scores with: the candidate sizes (a geometric grid over the ground
    truths' sides, and the configured sides) and ratios, each level's IoU tables, and the
    size bins of the ground truths with the covered count each must keep (``need``)."""

    def __init__(
        self, generator, gt: GroundTruth, grid_r: List[float], stock_sides: List[float], thr: float
    ) -> None:
        sides = np.minimum(gt.boxes[:, 2] - gt.boxes[:, 0], gt.boxes[:, 3] - gt.boxes[:, 1])
        low = max(1.0, 0.7 * float(np.quantile(sides, 0.001)))
        high = 1.2 * float(gt.input_shapes.max())
        grid = np.geomspace(
            low, high, int(math.ceil(math.log(high / low) / math.log(_SIZE_STEP))) + 1
        )
        self.sizes = np.unique(np.round(np.concatenate([grid, np.asarray(stock_sides, float)]), 2))
        self.grid_r, self.thr = grid_r, thr
        boxes = torch.from_numpy(gt.boxes).float()
        gw, gh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        self.num_gt = len(gw)
        s = torch.from_numpy(self.sizes).float()[:, None]
        # per level: the IoU of the squares of the G sizes (G, N), and of their ratio boxes,
        # the better of wide and tall (G, R, N)
        roots = [math.sqrt(r) for r in torch.tensor(grid_r).float().tolist()]  # float32 ratios
        self.levels = []
        for dx, dy in grid_offsets(gt, generator):
            ratio = [
                torch.maximum(
                    shape_ious(s * q, s / q, gw, gh, dx, dy),
                    shape_ious(s / q, s * q, gw, gh, dx, dy),
                )
                for q in roots
            ]
            ratio = torch.stack(ratio, dim=1) if ratio else torch.zeros(len(s), 0, len(gw))
            self.levels.append((shape_ious(s, s, gw, gh, dx, dy), ratio))
        self.bins = size_bin(gt.boxes)
        bin_ids = np.arange(len(SIZE_BINS))
        self.onehot = torch.from_numpy((self.bins[:, None] == bin_ids[None]).astype(np.float64))
        self.need = torch.zeros(len(SIZE_BINS), dtype=torch.float64)  # fit_default_boxes sets it
        # the levels in stride order, for ordered_sizes
        self.order = sorted(range(len(self.levels)), key=lambda q: (max(generator.strides[q]), q))

    def index_of(self, side: float) -> int:
        """Index of the grid size nearest to ``side``."""
        return int(np.argmin(np.abs(self.sizes - round(side, 2))))

    def settings(self, choice: Choice) -> Tuple[float, float]:
        """``(min_size, max_size)`` of a choice; the extra square's side is ``sqrt(min * max)``."""
        i, j, _ = choice
        return round(float(self.sizes[i]), 2), round(float(self.sizes[j] ** 2 / self.sizes[i]), 2)

    def level_best(self, k: int, choice: Choice) -> Tensor:
        """``(N,)`` best IoU of each ground truth with level ``k``'s boxes as chosen."""
        i, j, combo = choice
        square, ratio = self.levels[k]
        best = torch.maximum(square[i], square[j])
        for r in combo:
            best = torch.maximum(best, ratio[i, r])
        return best

    def score(self, best: Tensor) -> Tensor:
        """Lexicographic score in one float64 number, ``(...,)`` for ``best`` ``(..., N)``.

        First the shortfall below the size bins' floors (``need``: covered
        ground truths each bin must keep), then the covered count, then the
        mean best IoU (< 1).
        """
        covered = best >= self.thr
        counts = covered.to(self.onehot.dtype) @ self.onehot  # (..., B)
        short = (self.need - counts).clamp(min=0).sum(-1)
        num = best.shape[-1]
        return -short * (num + 1) + covered.sum(-1).double() + best.double().mean(-1)

    def extra_sides(self, i: int, bounds: Optional[Tuple[float, ...]]) -> List[int]:
        """Indices of the extra square's sides that go with min size ``i``.

        From ``min_size`` to ``_MAX_EXTRA`` times it, and within ``bounds``
        (:meth:`bounds`) when given: none when ``min_size`` is outside them.
        """
        sizes = self.sizes
        js = [j for j in range(i, len(sizes)) if sizes[j] <= _MAX_EXTRA * sizes[i] + 1e-6]
        if bounds is None:
            return js
        lo_m, hi_m, lo_x, hi_x = bounds
        if not lo_m - 1e-6 <= round(float(sizes[i]), 2) <= hi_m + 1e-6:
            return []
        return [
            j for j in js if lo_x - 1e-6 <= round(float(sizes[j] ** 2 / sizes[i]), 2) <= hi_x + 1e-6
        ]

    def bounds(
        self, k: int, mins: List[float], maxs: List[float]
    ) -> Optional[Tuple[float, float, float, float]]:
        """``(lo_min, hi_min, lo_max, hi_max)`` that keep level ``k``'s sizes between its
        neighbours' in stride order; None when the other levels are not ordered themselves."""
        pos = self.order.index(k)
        below, above = self.order[:pos], self.order[pos + 1 :]
        lo_m = max((mins[q] for q in below), default=0.0)
        hi_m = min((mins[q] for q in above), default=math.inf)
        lo_x = max((maxs[q] for q in below), default=0.0)
        hi_x = min((maxs[q] for q in above), default=math.inf)
        if lo_m > hi_m + 1e-6 or lo_x > hi_x + 1e-6:
            return None
        return lo_m, hi_m, lo_x, hi_x

    def best_choice(
        self, k: int, rest: Tensor, choice: Choice, num_ratios: int, bounds: Optional[Tuple]
    ) -> Choice:
        """The best choice of level ``k`` against ``rest``, the best IoU of the other levels.

        For each min size, every set of ``num_ratios`` ratios and every extra
        square's side is scored at once. ``choice`` (the level as it stands)
        is kept unless a candidate scores higher; when ``num_ratios`` changes
        its ratio count, it is no candidate.
        """
        square, ratio = self.levels[k]
        combos = list(itertools.combinations(range(len(self.grid_r)), num_ratios))
        if num_ratios == len(choice[2]):
            best_value = float(self.score(torch.maximum(rest, self.level_best(k, choice))))
        else:  # --max-ratios changes the count: the configured boxes are no candidate
            best_value = -math.inf
        best = choice
        for i in range(len(self.sizes)):
            js = self.extra_sides(i, bounds)
            if not js:
                continue
            base = torch.maximum(rest, square[i])
            if combos and combos[0]:
                picks = torch.stack([ratio[i, list(c)].amax(0) for c in combos])
                cand = torch.maximum(base[None], picks)  # (C, N)
            else:
                cand = base[None]
            scores = self.score(torch.maximum(cand[:, None], square[js][None]))  # (C, J)
            flat = int(torch.argmax(scores))
            value = float(scores.reshape(-1)[flat])
            if value > best_value + 1e-9:
                c, jj = divmod(flat, len(js))
                best_value, best = value, (i, js[jj], combos[c])
        return best

    def ascend(
        self,
        state: List[Choice],
        stock_sizes: Tuple[List[float], List[float]],
        num_ratios: Optional[int],
        ordered_sizes: bool,
        log: Callable[[str], None],
    ) -> Tuple[List[Choice], Tensor, List[str]]:
        """Improve one level at a time, the others fixed, until a pass changes none.

        Returns:
            The choices, the ``(N,)`` best IoU they give, and notes on the
            levels whose sizes could not be kept in stride order.
        """
        state, num_levels, num = list(state), len(state), self.num_gt
        cur_mins, cur_maxs = list(stock_sizes[0]), list(stock_sizes[1])  # the levels as they stand
        current = [self.level_best(k, state[k]) for k in range(num_levels)]
        stock = _split(float(self.score(torch.stack(current).amax(0))), num)
        notes: List[str] = []
        for p in range(_MAX_PASSES):
            moved = False
            for k in range(num_levels):
                others = [current[q] for q in range(num_levels) if q != k]
                rest = torch.stack(others).amax(0) if others else torch.zeros_like(current[k])
                bounds = self.bounds(k, cur_mins, cur_maxs) if ordered_sizes else None
                if ordered_sizes and bounds is None and p == 0:
                    notes.append(
                        f"level {k}: the other levels' sizes do not rise with the stride, so "
                        "this level's sizes are not kept between theirs"
                    )
                n = len(state[k][2]) if num_ratios is None else num_ratios
                choice = self.best_choice(k, rest, state[k], n, bounds)
                if choice != state[k]:
                    state[k], current[k] = choice, self.level_best(k, choice)
                    cur_mins[k], cur_maxs[k] = self.settings(choice)
                    moved = True
            short, covered, mean = _split(float(self.score(torch.stack(current).amax(0))), num)
            log(
                f'fit pass {p + 1}: coverage {covered / num:.4f}, mean best IoU {mean:.4f} '
                f'(configured boxes: {stock[1] / num:.4f}, {stock[2]:.4f}) on {num} ground truths'
                + (f"; {short} short of the size bins' floors" if short else '')
            )
            if not moved:
                break
        return state, torch.stack(current).amax(0), notes


def fit_default_boxes(
    generator,
    cfg_ratios: Sequence[Sequence[float]],
    gt: GroundTruth,
    pos_iou_thr: float,
    num_ratios: Optional[int] = None,
    max_samples: int = 20000,
    seed: int = 0,
    min_coverage: Optional[Dict[str, float]] = None,
    ordered_sizes: bool = True,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Fit per-level sizes and aspect ratios to ``gt`` (the objective: the module docstring).

    Args:
        generator: The configured (built) SSD anchor generator: its levels,
            strides and grid are kept.
        cfg_ratios: Its ``ratios`` config (one list per level).
        gt: Ground truths at the network input.
        pos_iou_thr: The assigner's positive threshold.
        num_ratios: Ratios per level (boxes per location ``2 + 2 * n``);
            None keeps each level's count.
        max_samples: Ground truths scored (a seeded random subset above it).
        seed: Seed of the subset.
        min_coverage: Floors per size bin (``{'small': 0.6}``), shares of
            the bin's ground truths; bins not given keep the configured
            boxes' coverage on the sample (so the configured boxes always meet it).
        ordered_sizes: Keep sizes rising with the stride.
        log: Progress lines.

    Returns:
        The :class:`FitResult`, sizes rounded to 0.01 px.

    Raises:
        DefaultBoxesError: for a ``num_ratios`` outside ``0..len(grid)`` or
            an unknown bin or share in ``min_coverage``.
    """
    mins, maxs, ratios = stock_settings(generator, cfg_ratios)
    grid_r = sorted({round(float(r), 4) for r in _RATIO_GRID} | {r for lv in ratios for r in lv})
    if num_ratios is not None and not 0 <= num_ratios <= len(grid_r):
        raise DefaultBoxesError(
            f'--max-ratios {num_ratios}: give 0 to {len(grid_r)} aspect ratios per level '
            f'(the search picks from {grid_r})'
        )
    floors = dict(min_coverage or {})
    unknown = set(floors) - set(SIZE_BINS)
    if unknown:
        raise DefaultBoxesError(
            f'--min-coverage: unknown size bin(s) {sorted(unknown)}; give {list(SIZE_BINS)}'
        )
    if len(gt) > max_samples:
        index = np.sort(np.random.default_rng(seed).choice(len(gt), max_samples, replace=False))
        gt = GroundTruth(gt.boxes[index], gt.input_shapes[index], gt.num_images)
    extras = [math.sqrt(a * b) for a, b in zip(mins, maxs)]  # the extra squares' sides
    with torch.no_grad():
        search = _Search(generator, gt, grid_r, mins + extras, pos_iou_thr)
        initial = [
            (search.index_of(m), search.index_of(e), tuple(grid_r.index(round(r, 4)) for r in rs))
            for m, e, rs in zip(mins, extras, ratios)
        ]
        stock_best = torch.stack([search.level_best(k, c) for k, c in enumerate(initial)]).amax(0)
        # the covered ground truths each size bin must keep
        need, used, covered = [], {}, (stock_best >= pos_iou_thr).numpy()
        for b, name in enumerate(SIZE_BINS):
            sel = search.bins == b
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
        search.need = torch.tensor(need, dtype=torch.float64)
        state, best, notes = search.ascend(initial, (mins, maxs), num_ratios, ordered_sizes, log)
    covered_bins = ((best >= pos_iou_thr).double() @ search.onehot).tolist()
    shortfall = {
        name: int(max(0, search.need[b] - covered_bins[b]))
        for b, name in enumerate(SIZE_BINS)
        if search.need[b] > covered_bins[b]
    }
    result = FitResult(
        [], [], [], sample_size=search.num_gt, floors=used, shortfall=shortfall, notes=notes
    )
    for k, (stride, choice) in enumerate(zip(generator.strides, state)):
        if choice == initial[k]:
            min_size, max_size, level_ratios = round(mins[k], 2), round(maxs[k], 2), ratios[k]
            result.unchanged.append((k, (
                f'level {k} (stride {stride[0]:g}): no size or aspect ratio tried scores better '
                'than the configured ones (size-bin floors, coverage, then mean best IoU, with '
                'the other levels as fitted); kept as configured'
            )))  # fmt: skip
        else:
            min_size, max_size = search.settings(choice)
            level_ratios = [grid_r[c] for c in choice[2]]
        result.min_sizes.append(min_size)
        result.max_sizes.append(max_size)
        result.ratios.append(list(level_ratios))
    return result
