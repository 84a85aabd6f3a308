"""What the default-box tool reads from a config (the SSD anchor generator, the
assigner's thresholds) and writes back: ``report.json`` and its text tables, the
fitted config (inheriting the user's) and its ``--cfg-options`` line, checked
against ``SSDConfigCheckHook``.
"""

import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import ConfigDict

from ssd_plugin.apis.dataset_checks import cfg_get

from .coverage import SIZE_BINS
from .errors import DefaultBoxesError
from .ground_truth import type_name

ANCHOR_KEY = 'model.bbox_head.anchor_generator'
FITTED_KEYS = ('min_sizes', 'max_sizes', 'ratios')


def anchor_generator_cfg(cfg: Any, config_path: str) -> Dict:
    """The SSD anchor generator config of ``cfg.model.bbox_head``.

    A ``_scope_`` on the model or head (stamped by ``mmdet::`` bases) is
    passed down, so that the generator is the class the model builds.

    Raises:
        DefaultBoxesError: when the model has no SSD anchor generator.
    """
    head = cfg_get(cfg_get(cfg, 'model'), 'bbox_head')
    gen = cfg_get(head, 'anchor_generator')
    gen_type = str(cfg_get(gen, 'type', ''))
    if type_name(gen) != 'SSDAnchorGenerator':
        found = f'{ANCHOR_KEY} is {gen_type!r}' if gen_type else f'the model has no {ANCHOR_KEY}'
        raise DefaultBoxesError(
            f'{config_path}: {found}. This tool measures and fits the default boxes of SSD '
            f"({ANCHOR_KEY}=dict(type='SSDAnchorGenerator', ...)); for other anchor "
            "generators (e.g. YOLO's) use mmdet's tools/analysis_tools/optimize_anchors.py."
        )
    out = copy.deepcopy(dict(gen))
    scope = head.get('_scope_', cfg.model.get('_scope_'))
    if scope is not None and '.' not in gen_type:
        out.setdefault('_scope_', scope)
    return out


def assigner_thresholds(cfg: Any) -> Tuple[float, float, List[str]]:
    """``(pos_iou_thr, min_pos_iou, notes)`` of ``cfg.model.train_cfg.assigner``."""
    assigner = ((cfg.get('model') or {}).get('train_cfg') or {}).get('assigner') or {}
    notes = []
    thr = assigner.get('pos_iou_thr')
    if thr is None:
        thr = 0.5
        notes.append("model.train_cfg.assigner.pos_iou_thr is not set: using SSD's 0.5")
    return float(thr), float(assigner.get('min_pos_iou', 0.0)), notes


def build_anchor_generator(gen_cfg: Dict, what: str = ANCHOR_KEY):
    """Build the generator through the plugin's registry (the model's path)."""
    from ssd_plugin.registry import TASK_UTILS

    try:
        return TASK_UTILS.build(copy.deepcopy(gen_cfg))
    except Exception as err:
        raise DefaultBoxesError(f'{what} does not build: {type(err).__name__}: {err}') from err


def without_scope(gen_cfg: Dict) -> Dict:
    """An anchor generator config without the ``_scope_`` a base stamped on it."""
    return {k: v for k, v in gen_cfg.items() if k != '_scope_'}


def fitted_overrides(fit) -> Dict:
    """The keys of the anchor generator the fit sets."""
    return dict(
        min_sizes=[float(v) for v in fit.min_sizes],
        max_sizes=[float(v) for v in fit.max_sizes],
        ratios=[[float(r) for r in level] for level in fit.ratios],
    )


def cfg_literal(value: Any) -> str:
    """A list literal without spaces (one shell word in ``--cfg-options``)."""
    return repr(value).replace(' ', '')


def fitted_keys(overrides: Dict) -> List[str]:
    """The fitted keys first, then any other the override sets (strides, input_size)."""
    return [k for k in FITTED_KEYS if k in overrides] + [
        k for k in overrides if k not in FITTED_KEYS
    ]


def cfg_options_line(overrides: Dict, extra: Sequence[str] = ()) -> str:
    """``--cfg-options model.bbox_head.anchor_generator.min_sizes=[...] ...``, shell-quoted.

    Args:
        overrides: Anchor generator keys.
        extra: More ``key=value`` words (the pipelines' resize at another size).
    """
    words = [f'{ANCHOR_KEY}.{key}={cfg_literal(overrides[key])}' for key in fitted_keys(overrides)]
    return '--cfg-options ' + ' '.join(f"'{w}'" for w in words + list(extra))


def plain(value: Any) -> Any:
    """Config values as plain dicts, lists and tuples (for a config file's literals)."""
    return ConfigDict(value=value).to_dict()['value']


def check_fitted_config(path: str, cfg_options: Optional[Dict] = None) -> str:
    """Build the model of ``path`` and run ``SSDConfigCheckHook``'s level checks.

    Returns:
        A line saying what was checked.

    Raises:
        DefaultBoxesError: when the config does not build or the check fails.
    """
    from mmengine.config import Config

    from ssd_plugin.engine.hooks.ssd_config_check_hook import SSDConfigCheckHook
    from ssd_plugin.registry import MODELS

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
    gen = model.bbox_head.prior_generator
    return (
        f'{path} builds and passes SSDConfigCheckHook (levels, strides, boxes per location '
        f'{list(gen.num_base_priors)} against a dummy forward)'
    )


def build_report(
    config_path: str,
    gt,
    pos_iou_thr: float,
    stock_cfg: Dict,
    before: Dict,
    after: Optional[Dict],
    fitted_cfg: Optional[Dict],
    notes: List[str],
    ceiling: Dict,
    ceiling_notes: List[str],
    floors: Optional[Dict[str, float]],
) -> Dict:
    """The content of ``report.json``.

    Args:
        config_path: The analysed config.
        gt: The :class:`GroundTruth` analysed.
        pos_iou_thr: The matching threshold.
        stock_cfg: The configured anchor generator.
        before, after: :func:`summarize` outputs of the configured and the
            fitted default boxes (``after`` only with ``--fit``).
        fitted_cfg: The fitted anchor generator (with ``--fit``).
        notes: Lines worth keeping (skipped transforms, unchanged levels).
        ceiling: :func:`.ceiling.ceiling_stats` output: ``coverage_ceiling``
            and ``mean_iou_ceiling``, overall and per size bin.
        ceiling_notes: The ceiling in words, and how close the fit came.
        floors: The coverage each size bin had to keep in the fit (on its
            sample).

    Returns:
        A JSON-serialisable dict with ``coverage``, ``coverage_ceiling``,
        ``mean_best_iou``, ``positives_per_gt`` (each ``{"before", "after"}``
        but the ceiling), ``per_size``, ``num_gt``,
        ``fitted_anchor_generator`` and details.
    """

    def pair(configured: Dict, fitted: Optional[Dict], key: str) -> Dict:
        if fitted is None:
            return dict(before=configured.get(key))
        return dict(before=configured.get(key), after=fitted.get(key))

    fields = ('coverage', 'mean_best_iou', 'positives_per_gt')
    levels = ('best_match_levels', 'positive_levels')
    after_all = after['all'] if after else None
    report = dict(
        config=config_path,
        pos_iou_thr=pos_iou_thr,
        num_gt=len(gt),
        num_images=gt.num_images,
        num_ignored=gt.num_ignored,
        coverage=pair(before['all'], after_all, 'coverage'),
        **ceiling['all'],  # coverage_ceiling, mean_iou_ceiling
    )
    report.update({key: pair(before['all'], after_all, key) for key in fields[1:]})
    report['per_size'] = {
        name: dict(
            num_gt=stats['num_gt'],
            **ceiling['per_size'][name],
            **{key: pair(stats, after and after['per_size'][name], key) for key in fields + levels},
        )
        for name, stats in before['per_size'].items()
    }
    report['ceiling_notes'] = list(ceiling_notes)
    report['fit_floors'] = floors
    report['levels'] = {key: pair(before['all'], after_all, key) for key in levels}
    report['anchor_generator'] = without_scope(stock_cfg)
    report['fitted_anchor_generator'] = without_scope(fitted_cfg) if fitted_cfg else None
    report['sources'] = list(gt.sources)
    report['notes'] = list(notes)
    return report


def _pct(x: Optional[float]) -> str:
    return '     -' if x is None else f'{x:6.3f}'


def format_table(report: Dict) -> str:
    """The report as a text table (one row per size bin, configured -> fitted)."""
    fitted = 'after' in report['coverage']
    head = (
        f'{"":8s} {"GT":>8s}  {"coverage":>15s}  {"ceiling":>7s}  {"mean best IoU":>15s}  '
        f'{"pos/GT":>15s}'
    )
    rows = [head]

    def cells(entry: Dict) -> str:
        out = []
        for key in ('coverage', 'mean_best_iou', 'positives_per_gt'):
            pair = entry[key]
            text = _pct(pair['before'])
            text += f' -> {_pct(pair.get("after"))}' if fitted else ' ' * 10
            out.append(f'{text:>15s}')
            if key == 'coverage':
                out.append(f'{_pct(entry.get("coverage_ceiling")):>7s}')
        return '  '.join(out)

    rows.append(f'{"all":8s} {report["num_gt"]:8d}  {cells(report)}')
    for name in SIZE_BINS:
        entry = report['per_size'][name]
        rows.append(f'{name:8s} {entry["num_gt"]:8d}  {cells(entry)}')
    for key, title in (('best_match_levels', 'best match'), ('positive_levels', 'positives')):
        pair = report['levels'][key]
        text = ' '.join(f'{v:.2f}' for v in pair['before'])
        if fitted:
            text += ' -> ' + ' '.join(f'{v:.2f}' for v in pair['after'])
        rows.append(f'{title} share per level: {text}')
    return '\n'.join(rows)


def format_sizes_table(sizes: Dict) -> str:
    """The ``--input-sizes`` comparison as a text table."""
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
