"""The geometry: the best default box of every ground truth, and the grid's ceiling.

**Coverage.** The default boxes are the anchor generator's own ``grid_priors``
and the IoU is mmdet's ``bbox_overlaps``, evaluated with its float operations
(bitwise the same values, tested) on the priors' grid: the overlap along x is
computed once per column of the window and along y once per row. The figures
are those of training (SSD §2.2 "Matching strategy"): a ground truth is
*covered* when its best default box has IoU ``>= pos_iou_thr``; otherwise it
trains on the forced best match alone. IoU is computed against the default
boxes near each ground truth only, which gives the same answer as the full
``(N, A)`` matrix:

* the best box of each shape sits at the grid centre nearest to the ground
  truth's centre (IoU falls with the centre offset along each axis);
* a box of shape ``(w_a, h_a)`` can reach IoU ``t`` only if its centre offset
  along x is at most ``(w_a + w_g) / 2 - t * max(A_a, A_g) / min(h_a, h_g)``
  (and likewise along y), which bounds the window of grid cells searched.

Positives per ground truth are counted per ground truth, as if it were alone
in its image (the assigner gives a default box shared by two ground truths to
the one it overlaps more).

**The ceiling.** SSD's default boxes sit at the centres of the feature-map
cells (SSD §2.2: ``((i + 0.5)/|f_k|, (j + 0.5)/|f_k|)``); sizes and aspect
ratios are free, the centres are not. So for every ground truth there is a
best IoU that no choice of ``min_sizes``, ``max_sizes`` or ``ratios`` can
beat: that of the best axis-aligned box of *any* shape centred on a grid
point. Its share of ground truths at ``>= pos_iou_thr`` is the coverage
ceiling; a fit can only approach it, and only a larger input, a finer level
or a lower threshold raise it.

Put the grid point at the origin, the ground truth ``(g_w, g_h)`` centred
``(d_x, d_y) >= 0`` away. A box ``(w, h)`` centred at the origin overlaps it
along x by

    i_x(w) = clamp(min(w, g_w, (w + g_w)/2 - d_x), 0)

(likewise ``i_y``), and IoU = I / (S - I) with ``I = i_x i_y`` and
``S = w h + g_w g_h``. IoU rises with ``t = I / S`` (IoU = t / (1 - t)), so
maximise ``t``:

* ``w <= g_w - 2 d_x`` (the box inside the object along x): ``i_x = w`` and
  ``t = w i_y / (w h + G)`` rises with ``w``;
* ``w >= g_w + 2 d_x`` (the object inside the box along x): ``i_x = g_w`` and
  ``t`` falls with ``w``;
* in between, ``i_x = (w - a)/2`` with ``a = 2 d_x - g_w``, and
  ``d/dw [(w - a) / (w h + G)] = (G + a h) / (w h + G)^2`` has one sign for
  all ``w``: ``t`` is monotonic in ``w`` there.

So for any ``h`` the best ``w`` is one of the two ends,
``w = g_w - 2 d_x`` (if positive: the box edge on the object's near edge) or
``w = g_w + 2 d_x`` (the box edge on its far edge), and the same holds for
``h`` given ``w``. The maximum of a function monotonic in each coordinate
over a rectangle is at a corner, so the best IoU is the largest of four
closed forms (:func:`best_centred_iou`):

* inside on both axes: ``(g_w - 2 d_x)(g_h - 2 d_y) / (g_w g_h)``;
* around on both: ``g_w g_h / ((g_w + 2 d_x)(g_h + 2 d_y))``;
* inside along x, around along y:
  ``(g_w - 2 d_x) g_h / (g_w g_h + 2 d_y (g_w - 2 d_x))`` (and the mirror).

IoU only falls as the centre moves away (``i_x`` falls with ``d_x`` for
every ``w``), so the best grid point of a level is the centre nearest to the
object's centre along each axis, and the ceiling is the best level's.
"""

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor

from .ground_truth import GroundTruth

SIZE_BINS = ('small', 'medium', 'large')  # COCO: area < 32^2, < 96^2, above
# Cells x shapes whose IoU one step of ``_match_level`` evaluates (about 16 MB per float32
# temporary, a few of them alive at once).
_STEP_ELEMENTS = 1 << 22
# A ground truth counts as reachable at ``ceiling >= thr - _TOL``: the
# ceiling stays an upper bound of what bbox_overlaps' float32 gives.
_TOL = 1e-6


@dataclass
class MatchResult:
    """Per ground truth: its best default box and its positives.

    Attributes:
        best_iou: ``(N,)`` IoU of the best default box.
        best_level: ``(N,)`` level of the best default box (lowest on ties,
            as the assigner's argmax), -1 when no default box overlaps it.
        num_pos: ``(N,)`` default boxes at IoU ``>= pos_iou_thr``, plus the
            forced best match when none is (if its IoU is ``> 0`` and
            ``>= min_pos_iou``).
        pos_levels: ``(N, L)`` positives per level (the forced match on its level).
        pos_iou_thr: The threshold used.
    """

    best_iou: np.ndarray
    best_level: np.ndarray
    num_pos: np.ndarray
    pos_levels: np.ndarray
    pos_iou_thr: float


@dataclass
class Ceiling:
    """Per ground truth, the best IoU of any box centred on the grid.

    Attributes:
        best_iou: ``(N,)`` the ceiling (float64).
        level: ``(N,)`` the level that gives it (lowest on ties).
        offsets: ``(N, 2)`` ``(d_x, d_y)`` to the nearest centre of that level.
        pos_iou_thr: The matching threshold.
    """

    best_iou: np.ndarray
    level: np.ndarray
    offsets: np.ndarray
    pos_iou_thr: float

    @property
    def reachable(self) -> np.ndarray:
        """``(N,)`` bool: some box centred on the grid reaches ``pos_iou_thr``."""
        return self.best_iou >= self.pos_iou_thr - _TOL


def size_bin(boxes: np.ndarray) -> np.ndarray:
    """COCO size bin of ``(N, 4)`` boxes by area: 0 small, 1 medium, 2 large."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.digitize(area, [32.0**2, 96.0**2], right=False)


def level_geometry(generator) -> List[Tuple[Tuple[float, float], Tuple[float, float], Tensor]]:
    """``(stride (w, h), centre of the first cell (x, y), shapes (A, 2) w/h)`` per level."""
    out = []
    for stride, base in zip(generator.strides, generator.base_anchors):
        base = base.float()
        centre = (float((base[0, 0] + base[0, 2]) / 2), float((base[0, 1] + base[0, 3]) / 2))
        shapes = torch.stack([base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]], dim=1)
        out.append(((float(stride[0]), float(stride[1])), centre, shapes))
    return out


def grid_sizes(generator, h: int, w: int) -> List[Tuple[int, int]]:
    """``(fh, fw)`` = ``ceil(input / stride)`` per level, as ``SSDConfigCheckHook`` requires
    of the features."""
    return [
        (int(np.ceil(h / sh - 1e-6)), int(np.ceil(w / sw - 1e-6)))
        for sw, sh in ((float(s[0]), float(s[1])) for s in generator.strides)
    ]


def _reach(g_size: Tensor, g_other: Tensor, a_size: Tensor, a_other: Tensor, thr: float) -> Tensor:
    """Largest centre offset along one axis at which IoU ``>= thr`` is possible, ``(n,)``.

    Args:
        g_size, g_other: ``(n,)`` ground-truth extent along this axis and the other.
        a_size, a_other: ``(A,)`` the same for the level's box shapes.
    """
    area = torch.maximum((g_size * g_other)[:, None], (a_size * a_other)[None])
    need = thr * area / torch.minimum(g_other[:, None], a_other[None])
    return ((g_size[:, None] + a_size[None]) / 2 - need).amax(dim=1)


def _axis_overlap(g1: Tensor, g2: Tensor, index: Tensor, table: Tensor) -> Tuple[Tensor, Tensor]:
    """Overlap and prior extent along one axis, ``(n, P, A)`` each, of ground truths from
    ``g1`` to ``g2`` ``(n,)`` with the priors of columns (or rows) ``index`` ``(n, P)``,
    whose start and end per shape ``table`` ``(F, A, 2)`` holds."""
    ext = table[index]  # (n, P, A, 2)
    lo, hi = ext[..., 0], ext[..., 1]
    # mmdet's bbox_overlaps: rb - lt, clamped at 0
    overlap = (torch.minimum(g2[:, None, None], hi) - torch.maximum(g1[:, None, None], lo)).clamp_(
        min=0
    )
    return overlap, hi - lo


def _match_level(
    gt: Tensor, priors: Tensor, featmap: Tuple[int, int], geometry: Tuple, thr: float
) -> Tuple[Tensor, Tensor]:
    """Best IoU and count of IoU ``>= thr`` of ``(n, 4)`` ground truths on one level.

    The IoU of a ground truth with each prior of its window is computed with
    the float operations of mmdet's ``bbox_overlaps`` (overlap ``wx * wy``,
    union ``area_g + area_p - overlap`` floored at 1e-6), so the values are
    bitwise the same; but the per-axis overlaps are computed once per column
    and row of the window, not once per prior: mmdet's ``grid_priors`` adds
    the shift of a cell to each base box, so the ``(fh * fw * A, 4)`` priors
    are an outer product of ``(fw, A, 2)`` x-extents per column and
    ``(fh, A, 2)`` y-extents per row (checked here, exactly).
    """
    (sw, sh), (cx, cy), shapes = geometry
    fh, fw = featmap
    num_shapes = shapes.shape[0]
    grid = priors.view(fh, fw, num_shapes, 4)
    xs, ys = grid[0, :, :, 0::2].contiguous(), grid[:, 0, :, 1::2].contiguous()
    if not (
        torch.equal(grid[..., 0::2], xs.expand(fh, -1, -1, -1))
        and torch.equal(grid[..., 1::2], ys[:, None].expand(-1, fw, -1, -1))
    ):
        raise RuntimeError("the anchor generator's priors are not a regular grid of base boxes")
    gx1, gy1, gx2, gy2 = gt.unbind(1)
    gw, gh = gx2 - gx1, gy2 - gy1
    area_g = gw * gh
    gx, gy = (gx1 + gx2) / 2, (gy1 + gy2) / 2
    ix0 = torch.round((gx - cx) / sw).clamp(0, fw - 1).long()
    iy0 = torch.round((gy - cy) / sh).clamp(0, fh - 1).long()
    aw, ah = shapes[:, 0], shapes[:, 1]
    rx = torch.floor(_reach(gw, gh, aw, ah, thr) / sw + 0.5 + 1e-4).clamp(0, fw - 1).long()
    ry = torch.floor(_reach(gh, gw, ah, aw, thr) / sh + 0.5 + 1e-4).clamp(0, fh - 1).long()
    best = torch.empty(len(gt))
    count = torch.empty(len(gt), dtype=torch.long)
    key = rx * fh + ry  # ground truths of the same window size go together
    order = torch.argsort(key, stable=True)
    values, counts = torch.unique_consecutive(key[order], return_counts=True)
    start = 0
    for value, num in zip(values.tolist(), counts.tolist()):
        rxv, ryv = divmod(value, fh)
        step = max(1, _STEP_ELEMENTS // ((2 * rxv + 1) * (2 * ryv + 1) * num_shapes))
        for s0 in range(start, start + num, step):
            sel = order[s0 : min(s0 + step, start + num)]
            ix = ix0[sel, None] + torch.arange(-rxv, rxv + 1)  # (n, px)
            iy = iy0[sel, None] + torch.arange(-ryv, ryv + 1)  # (n, py)
            wx, pw = _axis_overlap(gx1[sel], gx2[sel], ix.clamp(0, fw - 1), xs)
            wy, ph = _axis_overlap(gy1[sel], gy2[sel], iy.clamp(0, fh - 1), ys)
            # (n, py, px, A), as mmdet's bbox_overlaps computes each element
            overlap = wx[:, None] * wy[:, :, None]
            union = (area_g[sel, None, None, None] + pw[:, None] * ph[:, :, None]).sub_(overlap)
            iou = overlap.div_(union.clamp_(min=1e-6))
            valid = ((ix >= 0) & (ix < fw))[:, None, :] & ((iy >= 0) & (iy < fh))[:, :, None]
            iou = iou.masked_fill_(~valid[..., None], -1.0).view(len(sel), -1)
            best[sel] = iou.amax(dim=1)
            count[sel] = (iou >= thr).sum(dim=1)
        start += num
    return best, count


def match_default_boxes(
    generator,
    gt: GroundTruth,
    pos_iou_thr: float,
    min_pos_iou: float = 0.0,
    chunk_size: int = 65536,
    progress: bool = False,
) -> MatchResult:
    """Best default box and positives of every ground truth.

    Args:
        generator: A built anchor generator (``SSDAnchorGenerator``).
        gt: Boxes at the network input and their input shapes.
        pos_iou_thr: The assigner's ``pos_iou_thr``.
        min_pos_iou: The assigner's ``min_pos_iou`` (forced match floor).
        chunk_size: Ground truths per step (the IoU evaluations of one
            step are bounded separately, to ``_STEP_ELEMENTS``).
        progress: Show a progress bar (over the ground truths).

    Returns:
        The per-ground-truth :class:`MatchResult`.
    """
    num, num_levels = len(gt), generator.num_levels
    geometry = level_geometry(generator)
    best_iou = np.zeros(num, np.float32)
    best_level = np.full(num, -1, np.int64)
    pos_levels = np.zeros((num, num_levels), np.int64)
    shapes, inverse = np.unique(gt.input_shapes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    bar = None
    if progress and num > chunk_size:
        from mmengine.utils import ProgressBar

        bar = ProgressBar(num)
    with torch.no_grad():
        for s, (h, w) in enumerate(shapes.tolist()):  # one input shape at a time
            featmaps = grid_sizes(generator, h, w)
            priors = generator.grid_priors(featmaps, device='cpu')
            priors = [(p.tensor if hasattr(p, 'tensor') else p).float() for p in priors]
            rows_of_shape = np.nonzero(inverse == s)[0]
            for start in range(0, len(rows_of_shape), chunk_size):
                rows = rows_of_shape[start : start + chunk_size]
                boxes = torch.from_numpy(gt.boxes[rows]).float()
                best = torch.full((len(rows),), -1.0)
                level = torch.full((len(rows),), -1, dtype=torch.long)
                counts = torch.zeros((len(rows), num_levels), dtype=torch.long)
                for k in range(num_levels):
                    lb, lc = _match_level(boxes, priors[k], featmaps[k], geometry[k], pos_iou_thr)
                    better = lb > best  # strict: ties stay on the lower level (argmax order)
                    best = torch.where(better, lb, best)
                    level = torch.where(better, torch.full_like(level, k), level)
                    counts[:, k] = lc
                # SSD §2.2: each ground truth is first matched to its best default box.
                forced = (counts.sum(dim=1) == 0) & (best > 0) & (best >= min_pos_iou)
                idx = torch.nonzero(forced).squeeze(1)
                counts[idx, level[idx]] += 1
                level = torch.where(best > 0, level, torch.full_like(level, -1))
                best_iou[rows] = best.clamp(min=0).numpy()
                best_level[rows] = level.numpy()
                pos_levels[rows] = counts.numpy()
                if bar is not None:
                    bar.update(len(rows))
    if bar is not None:
        print()
    return MatchResult(best_iou, best_level, pos_levels.sum(1), pos_levels, float(pos_iou_thr))


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


def best_centred_iou(gw: Tensor, gh: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """Best IoU of any axis-aligned box centred ``(dx, dy)`` from a ``(gw, gh)`` box.

    The largest of the four corner cases of the module docstring.

    Args:
        gw, gh: Ground-truth widths and heights (any broadcastable shapes).
        dx, dy: Absolute centre offsets along x and y.

    Returns:
        The best IoU, broadcast shape, in ``[0, 1]``.
    """
    gw, gh, dx, dy = (torch.as_tensor(v, dtype=torch.float64) for v in (gw, gh, dx, dy))
    area = gw * gh
    in_w = (gw - 2 * dx).clamp(min=0)  # box edge on the near edge (0: impossible)
    in_h = (gh - 2 * dy).clamp(min=0)
    out_w, out_h = gw + 2 * dx, gh + 2 * dy  # box edge on the far edge
    corners = torch.stack(
        [
            in_w * in_h / area,
            area / (out_w * out_h),
            in_w * gh / (area + 2 * dy * in_w),
            in_h * gw / (area + 2 * dx * in_h),
        ]
    )
    return corners.amax(0)


def grid_offsets(gt: GroundTruth, generator) -> List[Tuple[Tensor, Tensor]]:
    """``(dx, dy)`` of every ground truth to the nearest centre of each level, ``(N,)`` each.

    The centre index is rounded and clamped to the level's feature map
    (``ceil(input / stride)`` cells per axis), so objects off the grid's edge
    measure to the outermost centre.
    """
    boxes = torch.from_numpy(gt.boxes).float()
    gx, gy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    shapes, inverse = np.unique(gt.input_shapes, axis=0, return_inverse=True)
    inverse = torch.from_numpy(inverse.reshape(-1))
    fm = [grid_sizes(generator, int(h), int(w)) for h, w in shapes]
    out = []
    for k, ((sw, sh), (cx, cy), _) in enumerate(level_geometry(generator)):
        fh = torch.tensor([f[k][0] for f in fm])[inverse]
        fw = torch.tensor([f[k][1] for f in fm])[inverse]
        ix = torch.minimum(torch.round((gx - cx) / sw).clamp(min=0), (fw - 1).float())
        iy = torch.minimum(torch.round((gy - cy) / sh).clamp(min=0), (fh - 1).float())
        out.append(((gx - (cx + ix * sw)).abs(), (gy - (cy + iy * sh)).abs()))
    return out


def grid_ceiling(generator, gt: GroundTruth, pos_iou_thr: float) -> Ceiling:
    """The ceiling of every ground truth over the generator's levels (sizes ignored)."""
    boxes = torch.from_numpy(gt.boxes).double()
    gw, gh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    offsets = grid_offsets(gt, generator)
    per_level = torch.stack(
        [best_centred_iou(gw, gh, dx.double(), dy.double()) for dx, dy in offsets]
    )  # (L, N)
    best, level = per_level.max(0)  # first maximum: lowest level on ties
    offs = torch.stack([torch.stack(o, 1) for o in offsets]).double()  # (L, N, 2)
    dxy = offs[level, torch.arange(len(gw))]
    return Ceiling(best.numpy(), level.numpy(), dxy.numpy(), float(pos_iou_thr))


def min_square_side(stride: float, thr: float) -> float:
    """Smallest square side reaching ``thr`` with its centre ``stride / 2`` off on both axes.

    The farthest an object's centre can be from its level's nearest centre
    (inside the grid); the ceiling rises with the side, so bisection finds it.
    """
    lo, hi = 1e-3, 1e4 * stride
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        value = float(best_centred_iou(mid, mid, stride / 2, stride / 2))
        lo, hi = (lo, mid) if value >= thr else (mid, hi)
    return hi


def by_size_bin(boxes: np.ndarray, stats: Callable[[np.ndarray], Dict]) -> Dict:
    """``{'all': stats(all), 'per_size': {'small': stats(small), ...}}`` of ``(N, 4)`` boxes,
    ``stats`` taking an ``(N,)`` bool selection."""
    bins = size_bin(boxes)
    return dict(
        all=stats(np.ones(len(boxes), bool)),
        per_size={name: stats(bins == i) for i, name in enumerate(SIZE_BINS)},
    )


def summarize(result: MatchResult, boxes: np.ndarray) -> Dict:
    """Overall and per-size-bin figures of a :class:`MatchResult` (:func:`by_size_bin`), each
    ``num_gt``, ``coverage``, ``mean_best_iou``, ``positives_per_gt``,
    ``best_match_levels`` and ``positive_levels`` (shares per level)."""

    def stats(sel: np.ndarray) -> Dict:
        n = int(sel.sum())
        if n == 0:
            return dict(num_gt=0, coverage=None, mean_best_iou=None, positives_per_gt=None)
        best, level = result.best_iou[sel], result.best_level[sel]
        pos = result.pos_levels[sel].sum(0)
        return dict(
            num_gt=n,
            coverage=float((best >= result.pos_iou_thr).mean()),
            mean_best_iou=float(best.mean()),
            positives_per_gt=float(result.num_pos[sel].mean()),
            # share of ground truths whose best default box is on each level
            best_match_levels=[float((level == k).mean()) for k in range(len(pos))],
            # share of all positives (forced matches included) on each level
            positive_levels=[float(p / max(pos.sum(), 1)) for p in pos],
        )

    return by_size_bin(boxes, stats)


def ceiling_stats(ceiling: Ceiling, boxes: np.ndarray) -> Dict:
    """``coverage_ceiling`` and ``mean_iou_ceiling``, overall and per size bin
    (:func:`by_size_bin`)."""

    def stats(sel: np.ndarray) -> Dict:
        if not sel.any():
            return dict(coverage_ceiling=None, mean_iou_ceiling=None)
        return dict(
            coverage_ceiling=float(ceiling.reachable[sel].mean()),
            mean_iou_ceiling=float(ceiling.best_iou[sel].mean()),
        )

    return by_size_bin(boxes, stats)
