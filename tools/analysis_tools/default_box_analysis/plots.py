"""The two pictures of the default-box tool (matplotlib, written as PNG).

* :func:`plot_best_iou_hist`: histogram of every ground truth's best IoU,
  configured and fitted boxes, with the matching threshold.
* :func:`plot_shapes`: log-log scatter of ground-truth width and height at
  the network input, with each level's default-box shapes over it.
"""

from typing import Optional, Sequence

import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

_MAX_POINTS = 20000  # scatter points drawn (a seeded random subset above)


def plot_best_iou_hist(
    path: str,
    before: np.ndarray,
    thr: float,
    after: Optional[np.ndarray],
    title: str,
    ceiling: np.ndarray,
) -> None:
    """Histogram of the best IoU per ground truth, ``(N,)`` arrays, to ``path``.

    ``ceiling``: the best IoU any box centred on the grid reaches (dotted).
    """
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    bins = np.linspace(0, 1, 51)
    for values, label, colour, ls in (
        (before, 'configured', 'tab:red', '-'),
        (after, 'fitted', 'tab:blue', '-'),
        (ceiling, 'grid ceiling', '0.4', ':'),
    ):
        if values is None:
            continue
        cov = float((values >= thr - 1e-6).mean())
        ax.hist(
            np.clip(values, 0, 1),
            bins=bins,
            histtype='step',
            lw=1.6,
            ls=ls,
            color=colour,
            label=f'{label}: coverage {cov:.3f}, mean {values.mean():.3f}',
        )
    ax.axvline(thr, color='k', ls='--', lw=1, label=f'pos_iou_thr {thr:g}')
    ax.set_xlabel('IoU of the best default box')
    ax.set_ylabel('ground-truth boxes')
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc='upper left')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_shapes(
    path: str,
    boxes: np.ndarray,
    shapes_before: Sequence[np.ndarray],
    shapes_after: Optional[Sequence[np.ndarray]],
    title: str,
) -> None:
    """Ground-truth ``(w, h)`` on log-log axes with each level's box shapes, to ``path``.

    Args:
        boxes: ``(N, 4)`` ground truths at the network input.
        shapes_before: ``(A_k, 2)`` box widths/heights per level, configured.
        shapes_after: The same for the fitted boxes.
    """
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if len(w) > _MAX_POINTS:
        idx = np.random.default_rng(0).choice(len(w), _MAX_POINTS, replace=False)
        w, h = w[idx], h[idx]
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    ax.scatter(w, h, s=2, c='0.6', alpha=0.25, lw=0, rasterized=True, label='ground truth')
    colours = plt.get_cmap('viridis')(np.linspace(0, 0.9, len(shapes_before)))
    for which, marker, size, level_shapes in (
        ('configured', 'o', 60, shapes_before),
        ('fitted', 'x', 45, shapes_after or []),
    ):
        for k, shapes in enumerate(level_shapes):
            style = dict(facecolors='none', edgecolors=[colours[k]], lw=1.5)
            if marker == 'x':
                style = dict(c=[colours[k]], lw=1.8)
            label = f'level {k}, {which} ({marker})'
            ax.scatter(shapes[:, 0], shapes[:, 1], s=size, marker=marker, label=label, **style)
    lo = max(1.0, float(min(w.min(), h.min())) * 0.8)
    hi = float(max(w.max(), h.max(), *[s.max() for s in shapes_before])) * 1.25
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel('width at the network input (px)')
    ax.set_ylabel('height (px)')
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc='upper left', markerscale=0.8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
