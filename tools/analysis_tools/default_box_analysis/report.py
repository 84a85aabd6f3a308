"""What the tool shows and writes, from figures already computed: the text tables of
``report.json``, the ceiling in words, the fitted config (inheriting the user's, checked
against ``SSDConfigCheckHook``) and its ``--cfg-options`` line, and the two pictures
(matplotlib, written as PNG).
"""

import os.path as osp
import pprint
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import ConfigDict

from .coverage import SIZE_BINS, Ceiling, min_square_side, size_bin
from .ground_truth import ANCHOR_KEY, DefaultBoxesError, GroundTruth

FITTED_KEYS = ('min_sizes', 'max_sizes', 'ratios')
_MAX_POINTS = 20000  # scatter points drawn (a seeded random subset above)


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
    wh, off = gt.boxes[out, 2:] - gt.boxes[out, :2], ceiling.offsets[out]
    sw, sh = strides[0]
    side = min_square_side(max(sw, sh), thr)
    return [
        f'grid ceiling: {n_out} of {n} ground truths ({n_out / n:.1%}; {per_bin}) cannot reach '
        f'IoU {thr:g} with ANY box centred on the default-box grid, whatever its size and '
        f'aspect ratio: coverage ceiling {1 - n_out / n:.4f}.',
        f"why: default boxes are centred on their level's grid; on the finest level (stride "
        f"{sw:g}) an object's centre can be up to {sw / 2:g} x {sh / 2:g} px from the nearest "
        f'centre, and the offset costs a small object more IoU than a large one (at that worst '
        f'offset a square needs a side of {side:.1f} px to reach {thr:g}). The objects out of '
        f'reach are {np.median(wh[:, 0]):.1f} x {np.median(wh[:, 1]):.1f} px (median) and '
        f'their centres {np.median(off[:, 0]):.1f} x {np.median(off[:, 1]):.1f} px (median) '
        'from the nearest centre.',
        'to raise the ceiling: a larger input (--input-sizes compares some), a finer level '
        f'(stride {sw / 2:g}, reported with --input-sizes), or a lower pos_iou_thr; '
        'no fit of sizes or aspect ratios can.',
    ]


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
    levels = ceiling.level[gap]
    k = int(np.bincount(levels).argmax())
    wh = gt.boxes[:, 2:] - gt.boxes[:, :2]
    lo, hi = np.quantile(np.sqrt(wh[:, 0] * wh[:, 1])[ceiling.level == k], [0.05, 0.95])
    return [
        f'fit gap: {int(gap.sum())} ground truths are within the ceiling but no default box '
        f'reaches {ceiling.pos_iou_thr:g} for them; {float((levels == k).mean()):.0%} of them are '
        f'best placed on level {k} (stride {strides[k][0]:g}), whose objects span '
        f'{lo:.1f} to {hi:.1f} px (5th to 95th percentile, sqrt of the area) while its boxes '
        f'have two sides, {sides[k][0]:.2f} px (the square and every ratio box) and '
        f'{sides[k][1]:.2f} px (the extra square). SSD gives a level one size for its '
        'ratio boxes: more ratios (--max-ratios) add shapes, not sizes; a larger input or a '
        'finer level spreads the sizes over more levels.'
    ]


def _num(x: Optional[float]) -> str:
    return '     -' if x is None else f'{x:6.3f}'


def format_table(report: Dict) -> str:
    """``report.json``'s figures as a text table (one row per size bin, configured -> fitted),
    and the share of best matches and of positives per level."""
    fitted = 'after' in report['coverage']
    rows = [
        f'{"":8s} {"GT":>8s}  {"coverage":>15s}  {"ceiling":>7s}  {"mean best IoU":>15s}  '
        f'{"pos/GT":>15s}'
    ]
    for name, entry in [('all', report)] + [(n, report['per_size'][n]) for n in SIZE_BINS]:
        cells = []
        for key in ('coverage', 'mean_best_iou', 'positives_per_gt'):
            text = _num(entry[key]['before'])
            text += f' -> {_num(entry[key].get("after"))}' if fitted else ' ' * 10
            cells.append(f'{text:>15s}')
            if key == 'coverage':
                cells.append(f'{_num(entry.get("coverage_ceiling")):>7s}')
        rows.append(f'{name:8s} {entry["num_gt"]:8d}  {"  ".join(cells)}')
    for key, title in (('best_match_levels', 'best match'), ('positive_levels', 'positives')):
        pair = report['levels'][key]
        text = ' '.join(f'{v:.2f}' for v in pair['before'])
        if fitted:
            text += ' -> ' + ' '.join(f'{v:.2f}' for v in pair['after'])
        rows.append(f'{title} share per level: {text}')
    return '\n'.join(rows)


def format_sizes_table(sizes: Dict) -> str:
    """The ``--input-sizes`` comparison (``report.json``'s ``input_sizes`` and
    ``finer_level``) as a text table."""
    rows = [
        f'{"input":>6s} {"ceiling":>8s} {"coverage":>17s} {"small (ceil)":>15s} '
        f'{"priors":>8s} {"FLOPs x":>8s}'
    ]
    for e in sizes['input_sizes']:
        small = e['per_size']['small']
        cell = (
            '     -'
            if small['coverage'] is None
            else f'{small["coverage"]:.3f} ({small["coverage_ceiling"]:.3f})'
        )
        mark = ' <- recommended' if e['input_size'] == sizes['recommended_input_size'] else ''
        rows.append(
            f'{e["input_size"]:6d} {e["coverage_ceiling"]:8.4f} '
            f'{e["coverage_configured"]:7.4f} -> {e["coverage"]:6.4f} {cell:>15s} '
            f'{e["num_priors"]:8d} {e["relative_flops"]:8.2f}{mark}'
        )
    fine = sizes['finer_level']
    stride = fine['stride']
    stride = (
        f'{stride:g}' if isinstance(stride, (int, float)) else 'x'.join(f'{v:g}' for v in stride)
    )
    rows.append(
        f'a finer level (stride {stride}) at the configured size: ceiling '
        f'{fine["coverage_ceiling"]:.4f}, fitted coverage {fine["coverage"]:.4f}, '
        f'{fine["num_priors"]} priors; {fine["note"]}'
    )
    return '\n'.join(rows)


def cfg_literal(value: Any) -> str:
    """A literal without spaces (one shell word in ``--cfg-options``)."""
    return repr(value).replace(' ', '')


def write_fitted_config(
    path: str,
    config_path: str,
    header: List[str],
    overrides: Dict,
    loaders: Optional[Dict] = None,
    words: Sequence[str] = (),
    cfg_options: Optional[Dict] = None,
) -> Tuple[str, str]:
    """Write a config that inherits ``config_path`` and sets ``overrides`` of its anchor
    generator (and ``loaders``, the dataloaders at another input size); build its model and
    run ``SSDConfigCheckHook``'s level checks (a dummy forward).

    Args:
        path: Where to write it.
        config_path: The analysed config (``_base_``).
        header: Comment lines.
        overrides: Anchor generator keys, the fitted ones first in the file.
        loaders: The changed parts of the dataloaders (pipelines written whole).
        words: ``key=value`` words of ``loaders`` for the ``--cfg-options`` line.
        cfg_options: The ``--cfg-options`` of the analysis, applied to the check too.

    Returns:
        ``(a line saying what was checked, the same boxes as a --cfg-options line)``.

    Raises:
        DefaultBoxesError: when the config does not build or the check fails.
    """
    from mmengine.config import Config

    from ssd_plugin.engine.hooks.ssd_config_check_hook import SSDConfigCheckHook
    from ssd_plugin.registry import MODELS

    def plain(value: Any) -> Any:  # config values as plain dicts, lists and tuples
        return ConfigDict(value=value).to_dict()['value']

    keys = [k for k in FITTED_KEYS if k in overrides] + [
        k for k in overrides if k not in FITTED_KEYS
    ]
    lines = [f'# {line}' for line in header] + [
        f'_base_ = {osp.abspath(config_path)!r}',
        '',
        "# The default boxes and the input size change; levels are the base config's."
        if loaders
        else "# Only the default boxes change; levels and strides are the base config's.",
        'model = dict(',
        '    bbox_head=dict(',
        '        anchor_generator=dict(',
        *(f'            {key}={cfg_literal(plain(overrides[key]))},' for key in keys),
        '        )',
        '    )',
        ')',
        '',
    ]
    for key, value in (loaders or {}).items():
        lines += [f'{key} = {pprint.pformat(plain(value), width=96, sort_dicts=False)}', '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    try:
        cfg = Config.fromfile(path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        model = MODELS.build(cfg.model)
        SSDConfigCheckHook().check_feature_levels(model)
    except Exception as err:
        raise DefaultBoxesError(
            f'the fitted config {path} fails to build or to pass SSDConfigCheckHook: '
            f'{type(err).__name__}: {err}'
        ) from err
    checked = (
        f'{path} builds and passes SSDConfigCheckHook (levels, strides, boxes per location '
        f'{list(model.bbox_head.prior_generator.num_base_priors)} against a dummy forward)'
    )
    words = [f'{ANCHOR_KEY}.{key}={cfg_literal(overrides[key])}' for key in keys] + list(words)
    return checked, '--cfg-options ' + ' '.join(f"'{w}'" for w in words)


def plot_best_iou_hist(
    path: str, thr: float, title: str, values: Sequence[Tuple[str, Optional[np.ndarray]]]
) -> None:
    """Histogram of the best IoU per ground truth to ``path``: ``values`` ``(label, (N,)
    array or None)`` of the configured boxes, the fitted ones and the grid ceiling (dotted),
    with the matching threshold."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for (label, value), colour, ls in zip(values, ('tab:red', 'tab:blue', '0.4'), ('-', '-', ':')):
        if value is None:
            continue
        cov = float((value >= thr - 1e-6).mean())
        ax.hist(
            np.clip(value, 0, 1),
            bins=np.linspace(0, 1, 51),
            histtype='step',
            lw=1.6,
            ls=ls,
            color=colour,
            label=f'{label}: coverage {cov:.3f}, mean {value.mean():.3f}',
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
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

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
