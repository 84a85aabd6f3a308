"""Best default box of every ground truth, as the model's assigner sees it.

The default boxes are the anchor generator's own ``grid_priors`` and the IoU
is mmdet's ``bbox_overlaps``, evaluated with its float operations (bitwise the
same values, tested) on the priors' grid: the overlap along x is computed once
per column of the window and along y once per row. The figures are those of
training (SSD §2.2
"Matching strategy"): a ground truth is *covered* when its best default box
has IoU ``>= pos_iou_thr``; otherwise it trains on the forced best match
alone. IoU is computed against the default boxes near each ground truth
only, which gives the same answer as the full ``(N, A)`` matrix:

* the best box of each shape sits at the grid centre nearest to the ground
  truth's centre (IoU falls with the centre offset along each axis);
* a box of shape ``(w_a, h_a)`` can reach IoU ``t`` only if its centre offset
  along x is at most ``(w_a + w_g) / 2 - t * max(A_a, A_g) / min(h_a, h_g)``
  (and likewise along y), which bounds the window of grid cells searched.

Positives per ground truth are counted per ground truth, as if it were alone
in its image (the assigner gives a default box shared by two ground truths to
the one it overlaps more).
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .ground_truth import GroundTruth

SIZE_BINS = ('small', 'medium', 'large')  # COCO: area < 32^2, < 96^2, above


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
        pos_levels: ``(N, L)`` positives per level (the forced match on its
            level).
        pos_iou_thr: The threshold used.
    """

    best_iou: np.ndarray
    best_level: np.ndarray
    num_pos: np.ndarray
    pos_levels: np.ndarray
    pos_iou_thr: float


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


# Cells x shapes whose IoU one step of ``_match_level`` evaluates (about 16 MB per float32
# temporary, a few of them alive at once).
_STEP_ELEMENTS = 1 << 22


def _axis_tables(
    priors: Tensor, featmap: Tuple[int, int], num_shapes: int
) -> Tuple[Tensor, Tensor]:
    """``(fw, A, 2)`` x-extents per column and ``(fh, A, 2)`` y-extents per row of a level's priors.

    mmdet's ``grid_priors`` adds the shift of a cell to each base box, so a
    prior's x-extent depends on its column and shape only, and its y-extent on
    its row and shape: the ``(fh * fw * A, 4)`` priors are an outer product of
    these two tables (checked here, exactly).
    """
    fh, fw = featmap
    grid = priors.view(fh, fw, num_shapes, 4)
    xs = grid[0, :, :, 0::2].contiguous()
    ys = grid[:, 0, :, 1::2].contiguous()
    if not (
        torch.equal(grid[..., 0::2], xs.expand(fh, -1, -1, -1))
        and torch.equal(grid[..., 1::2], ys[:, None].expand(-1, fw, -1, -1))
    ):
        raise RuntimeError("the anchor generator's priors are not a regular grid of base boxes")
    return xs, ys


def _axis_overlap(g1: Tensor, g2: Tensor, index: Tensor, table: Tensor) -> Tuple[Tensor, Tensor]:
    """Overlap and prior extent along one axis, ``(n, P, A)`` each.

    Args:
        g1, g2: ``(n,)`` ground-truth start and end along the axis.
        index: ``(n, P)`` columns (or rows) of the window, inside the grid.
        table: ``(F, A, 2)`` prior start and end per column (or row) and shape.
    """
    ext = table[index]  # (n, P, A, 2)
    lo, hi = ext[..., 0], ext[..., 1]
    # mmdet's bbox_overlaps: rb - lt, clamped at 0
    overlap = (torch.minimum(g2[:, None, None], hi) - torch.maximum(g1[:, None, None], lo)).clamp_(
        min=0
    )
    return overlap, hi - lo


def _match_level(
    gt: Tensor,
    priors: Tensor,
    featmap: Tuple[int, int],
    geometry: Tuple,
    thr: float,
) -> Tuple[Tensor, Tensor]:
    """Best IoU and count of IoU ``>= thr`` of ``(n, 4)`` ground truths on one level.

    The IoU of a ground truth with each prior of its window is computed with
    the float operations of mmdet's ``bbox_overlaps`` (overlap ``wx * wy``,
    union ``area_g + area_p - overlap`` floored at 1e-6), so the values are
    bitwise the same; but the per-axis overlaps are computed once per column
    and row of the window (the priors are a grid), not once per prior.
    """
    (sw, sh), (cx, cy), shapes = geometry
    fh, fw = featmap
    num_shapes = shapes.shape[0]
    xs, ys = _axis_tables(priors, featmap, num_shapes)
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
    key = rx * fh + ry
    order = torch.argsort(key, stable=True)
    values, counts = torch.unique_consecutive(key[order], return_counts=True)
    start = 0
    for value, num in zip(values.tolist(), counts.tolist()):
        rxv, ryv = divmod(value, fh)
        px, py = 2 * rxv + 1, 2 * ryv + 1
        step = max(1, _STEP_ELEMENTS // (px * py * num_shapes))
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
            iou.masked_fill_(~valid[..., None], -1.0)
            iou = iou.view(len(sel), -1)
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


def _stats(result: MatchResult, sel: np.ndarray, num_levels: int) -> Dict:
    n = int(sel.sum())
    if n == 0:
        return dict(num_gt=0, coverage=None, mean_best_iou=None, positives_per_gt=None)
    best = result.best_iou[sel]
    level = result.best_level[sel]
    pos = result.pos_levels[sel].sum(0)
    return dict(
        num_gt=n,
        coverage=float((best >= result.pos_iou_thr).mean()),
        mean_best_iou=float(best.mean()),
        positives_per_gt=float(result.num_pos[sel].mean()),
        # share of ground truths whose best default box is on each level
        best_match_levels=[float((level == k).mean()) for k in range(num_levels)],
        # share of all positives (forced matches included) on each level
        positive_levels=[float(p / max(pos.sum(), 1)) for p in pos],
    )


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
    num_levels = result.pos_levels.shape[1]
    return by_size_bin(boxes, lambda sel: _stats(result, sel, num_levels))


def stock_shapes(generator) -> Sequence[np.ndarray]:
    """``(A, 2)`` box widths and heights per level (for the plots)."""
    return [shapes.numpy() for _, _, shapes in level_geometry(generator)]
