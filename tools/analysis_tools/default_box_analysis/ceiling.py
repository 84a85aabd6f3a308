"""The grid's ceiling: the best IoU any box centred on the default-box grid can reach.

SSD's default boxes sit at the centres of the feature-map cells (SSD §2.2:
``((i + 0.5)/|f_k|, (j + 0.5)/|f_k|)``); sizes and aspect ratios are free,
the centres are not. So for every ground truth there is a best IoU that no
choice of ``min_sizes``, ``max_sizes`` or ``ratios`` can beat: that of the
best axis-aligned box of *any* shape centred on a grid point. Its share of
ground truths at ``>= pos_iou_thr`` is the coverage ceiling; a fit can only
approach it, and only a larger input, a finer level or a lower threshold
raise it.

**The math.** Put the grid point at the origin, the ground truth
``(g_w, g_h)`` centred ``(d_x, d_y) >= 0`` away. A box ``(w, h)`` centred at
the origin overlaps it along x by

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
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .coverage import SIZE_BINS, by_size_bin, grid_sizes, level_geometry, size_bin
from .ground_truth import GroundTruth

# A ground truth counts as reachable at ``ceiling >= thr - _TOL``: the
# ceiling stays an upper bound of what bbox_overlaps' float32 gives.
_TOL = 1e-6


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


def describe_ceiling(
    ceiling: Ceiling, gt: GroundTruth, strides: Sequence[Tuple[float, float]]
) -> List[str]:
    """Plain-words lines: which ground truths the grid cannot cover, and why."""
    thr = ceiling.pos_iou_thr
    out = ~ceiling.reachable
    n, n_out = len(out), int(out.sum())
    if n_out == 0:
        return [
            f'grid ceiling: every ground truth can reach IoU >= {thr:g} with a box centred on '
            'the default-box grid; the sizes and aspect ratios decide the coverage.'
        ]
    bins = size_bin(gt.boxes)
    per_bin = ', '.join(
        f'{int((out & (bins == i)).sum())} of {int((bins == i).sum())} {name}'
        for i, name in enumerate(SIZE_BINS)
        if (bins == i).any()
    )
    wh = gt.boxes[out, 2:] - gt.boxes[out, :2]
    off = ceiling.offsets[out]
    lines = [
        f'grid ceiling: {n_out} of {n} ground truths ({n_out / n:.1%}; {per_bin}) cannot reach '
        f'IoU {thr:g} with ANY box centred on the default-box grid, whatever its size and '
        f'aspect ratio: coverage ceiling {1 - n_out / n:.4f}.',
    ]
    sw, sh = strides[0]
    side = min_square_side(max(sw, sh), thr)
    lines.append(
        f"why: default boxes are centred on their level's grid; on the finest level (stride "
        f"{sw:g}) an object's centre can be up to {sw / 2:g} x {sh / 2:g} px from the nearest "
        f'centre, and the offset costs a small object more IoU than a large one (at that worst '
        f'offset a square needs a side of {side:.1f} px to reach {thr:g}). The objects out of '
        f'reach are {np.median(wh[:, 0]):.1f} x {np.median(wh[:, 1]):.1f} px (median) and '
        f'their centres {np.median(off[:, 0]):.1f} x {np.median(off[:, 1]):.1f} px (median) '
        'from the nearest centre.'
    )
    lines.append(
        'to raise the ceiling: a larger input (--input-sizes compares some), a finer level '
        '(stride ' + f'{sw / 2:g}' + ', reported with --input-sizes), or a lower pos_iou_thr; '
        'no fit of sizes or aspect ratios can.'
    )
    return lines


def describe_fit_gap(
    ceiling: Ceiling,
    best_iou: np.ndarray,
    gt: GroundTruth,
    strides: Sequence[Tuple[float, float]],
    sides: Sequence[Tuple[float, float]],
) -> List[str]:
    """Plain words on the ground truths the grid allows but the boxes miss.

    Args:
        ceiling: The grid's ceiling.
        best_iou: ``(N,)`` best IoU of the (fitted) default boxes.
        gt: The ground truths.
        strides: Per level.
        sides: Per level, ``(min_size, extra square side)``.
    """
    gap = ceiling.reachable & (best_iou < ceiling.pos_iou_thr)
    if not gap.any():
        return []
    n_gap = int(gap.sum())
    levels = ceiling.level[gap]
    k = int(np.bincount(levels).argmax())
    on_k = ceiling.level == k
    wh = gt.boxes[:, 2:] - gt.boxes[:, :2]
    side = np.sqrt(wh[:, 0] * wh[:, 1])
    lo, hi = np.quantile(side[on_k], [0.05, 0.95])
    return [
        f'fit gap: {n_gap} ground truths are within the ceiling but no default box reaches '
        f'{ceiling.pos_iou_thr:g} for them; {float((levels == k).mean()):.0%} of them are '
        f'best placed on level {k} (stride {strides[k][0]:g}), whose objects span '
        f'{lo:.1f} to {hi:.1f} px (5th to 95th percentile, sqrt of the area) while its boxes '
        f'have two sides, {sides[k][0]:.2f} px (the square and every ratio box) and '
        f'{sides[k][1]:.2f} px (the extra square). SSD gives a level one size for its '
        'ratio boxes: more ratios (--max-ratios) add shapes, not sizes; a larger input or a '
        'finer level spreads the sizes over more levels.'
    ]
