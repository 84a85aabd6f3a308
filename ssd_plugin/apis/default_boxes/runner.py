"""The default-box analysis end to end (what ``tools/analysis_tools/default_boxes.py`` runs)."""

import contextlib
import copy
import json
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterator, Optional

import torch

from .coverage import SIZE_BINS, match_default_boxes, stock_shapes, summarize
from .errors import DefaultBoxesError
from .fit import fit_default_boxes
from .ground_truth import load_train_boxes, train_resize
from .report import (
    ANCHOR_KEY,
    anchor_generator_cfg,
    assigner_thresholds,
    build_anchor_generator,
    build_report,
    cfg_options_line,
    check_fitted_config,
    fitted_overrides,
    write_fitted_config,
)

__all__ = ['check_train_data', 'format_table', 'run_analysis']

_IMAGE_PREFIX_KEYS = ('img', 'img_path')  # images are not read; other prefixes (VOC XML) are


def _strip_image_prefixes(ds_cfg: Any) -> None:
    if not hasattr(ds_cfg, 'get'):
        return
    if ds_cfg.get('dataset') is not None:
        _strip_image_prefixes(ds_cfg['dataset'])
    elif ds_cfg.get('datasets') is not None:
        for sub in ds_cfg['datasets']:
            _strip_image_prefixes(sub)
    elif hasattr(ds_cfg.get('data_prefix'), 'items'):
        ds_cfg['data_prefix'] = {
            k: v for k, v in ds_cfg['data_prefix'].items() if k not in _IMAGE_PREFIX_KEYS
        }


def check_train_data(cfg: Any, config_path: str) -> None:
    """The run checks' dataset test on the training set, images left out.

    Raises:
        DefaultBoxesError: naming each missing annotation file or root and
            how to get the data (``ssd_plugin.apis.dataset_checks.dataset_problems``).
    """
    from ssd_plugin.apis.dataset_checks import dataset_problems

    probe = dict(train_dataloader=copy.deepcopy(cfg.get('train_dataloader')))
    if probe['train_dataloader'] is not None:
        _strip_image_prefixes(probe['train_dataloader'].get('dataset'))
    problems, hints = dataset_problems(probe, ['train_dataloader'])
    if problems:
        lines = [
            f'Cannot analyse the default boxes of {config_path}: the training annotations are '
            f'missing (relative paths are from {os.getcwd()}; images are not needed):'
        ]
        lines += [f'  - {p}' for p in problems] + hints
        raise DefaultBoxesError('\n'.join(lines))


def _pct(x: Optional[float]) -> str:
    return '     -' if x is None else f'{x:6.3f}'


def format_table(report: Dict) -> str:
    """The report as a text table (one row per size bin, configured -> fitted)."""
    fitted = 'after' in report['coverage']
    head = f'{"":8s} {"GT":>8s}  {"coverage":>15s}  {"mean best IoU":>15s}  {"pos/GT":>15s}'
    rows = [head]

    def cells(entry: Dict) -> str:
        out = []
        for key in ('coverage', 'mean_best_iou', 'positives_per_gt'):
            pair = entry[key]
            text = _pct(pair['before'])
            text += f' -> {_pct(pair.get("after"))}' if fitted else ' ' * 10
            out.append(f'{text:>15s}')
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


def _write_report(out_dir: str, report: Dict) -> None:
    with open(osp.join(out_dir, 'report.json'), 'w') as f:
        json.dump(report, f, indent=1)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the analysis (restored after).

    The matching and the fit are many small torch operations. With two or
    more threads each one is an OpenMP region whose threads wait for each
    other, and on a machine whose cores are busy with other work that wait
    dominates: the 860k-box matching took 134 s of CPU with 2 threads and 7 s
    with 1 (2 cores, load about 3.7). On idle cores 1 thread costs little
    (7 s instead of 5 s).
    """
    num = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(num)


def run_analysis(
    cfg: Any,
    config_path: str,
    out_dir: str,
    fit: bool = False,
    max_ratios: Optional[int] = None,
    fit_samples: int = 20000,
    seed: int = 0,
    plots: bool = True,
    cfg_options: Optional[Dict] = None,
    log: Callable[[str], None] = print,
) -> Dict:
    """Analyse (and with ``fit`` refit) the default boxes of ``cfg``; write the outputs.

    Args:
        cfg: The merged config.
        config_path: Its file (the fitted config inherits it).
        out_dir: Where ``report.json``, the PNGs and ``fitted_config.py`` go.
        fit: Search better default boxes.
        max_ratios: Aspect ratios per level for the fit (None: keep).
        fit_samples: Ground truths the search scores.
        seed: Seed of the search subset.
        plots: Write the PNGs.
        cfg_options: The ``--cfg-options`` given (applied to the fitted
            config's build check too).
        log: Where lines go.

    Returns:
        The report (also written to ``out_dir/report.json``).

    Raises:
        DefaultBoxesError: for unusable input, with what to fix.
    """
    with _one_torch_thread():  # many small torch operations
        return _analyse(
            cfg, config_path, out_dir, fit, max_ratios, fit_samples, seed, plots, cfg_options, log
        )


def _analyse(
    cfg: Any,
    config_path: str,
    out_dir: str,
    fit: bool,
    max_ratios: Optional[int],
    fit_samples: int,
    seed: int,
    plots: bool,
    cfg_options: Optional[Dict],
    log: Callable[[str], None],
) -> Dict:
    """:func:`run_analysis`'s work."""
    if max_ratios is not None and not fit:
        raise DefaultBoxesError('--max-ratios applies to --fit only')
    if fit_samples < 1:
        raise DefaultBoxesError(f'--fit-samples must be >= 1, got {fit_samples}')
    stock_cfg = anchor_generator_cfg(cfg, config_path)
    thr, min_pos_iou, notes = assigner_thresholds(cfg)
    generator = build_anchor_generator(stock_cfg)
    check_train_data(cfg, config_path)
    loader = cfg.get('train_dataloader')
    from .ground_truth import leaf_dataset_cfgs

    for key, leaf in leaf_dataset_cfgs(loader['dataset'], 'train_dataloader.dataset'):
        _, skipped = train_resize(leaf.get('pipeline'), key)
        if skipped:
            notes.append(f'{key}: left out (random or photometric): {", ".join(skipped)}')
    log('reading the training annotations ...')
    gt = load_train_boxes(cfg, progress=True)
    for line in gt.sources:
        log(f'  {line}')
    log(f'{len(gt)} ground-truth boxes; matching at IoU >= {thr:g} ...')
    before = match_default_boxes(generator, gt, thr, min_pos_iou, progress=True)
    summary_before = summarize(before, gt.boxes, generator.num_levels)
    after = summary_after = fitted_cfg = None
    fitted_generator = None
    os.makedirs(out_dir, exist_ok=True)
    if fit:
        ratios_cfg = stock_cfg.get('ratios')
        result = fit_default_boxes(
            generator,
            ratios_cfg,
            gt,
            thr,
            num_ratios=max_ratios,
            max_samples=fit_samples,
            seed=seed,
            log=log,
        )
        for _, reason in result.unchanged:
            log(f'note: {reason}')
            notes.append(reason)
        if len(result.unchanged) == generator.num_levels:
            _write_report(
                out_dir, build_report(config_path, gt, thr, stock_cfg, summary_before, notes=notes)
            )
            raise DefaultBoxesError(
                f'--fit cannot change any level of {config_path}: no size or aspect ratio '
                'tried improves coverage or the mean best IoU on its training set, so the '
                'configured default boxes are the best the search found (coverage '
                f'{summary_before["all"]["coverage"]:.4f}); no fitted config written. '
                f'The configured boxes are in {osp.join(out_dir, "report.json")}.'
            )
        overrides = fitted_overrides(result)
        fitted_cfg = dict(stock_cfg, **overrides)
        fitted_generator = build_anchor_generator(fitted_cfg, 'the fitted anchor generator')
        log('matching the fitted default boxes ...')
        after = match_default_boxes(fitted_generator, gt, thr, min_pos_iou, progress=True)
        summary_after = summarize(after, gt.boxes, fitted_generator.num_levels)
        header = [
            f'Written by tools/analysis_tools/default_boxes.py --fit on {config_path}.',
            f'Default boxes fitted to its training set ({len(gt)} boxes): coverage at IoU >= '
            f'{thr:g} {summary_before["all"]["coverage"]:.4f} -> '
            f'{summary_after["all"]["coverage"]:.4f}, mean best IoU '
            f'{summary_before["all"]["mean_best_iou"]:.4f} -> '
            f'{summary_after["all"]["mean_best_iou"]:.4f}.',
        ]
        if cfg_options:
            header.append(
                'The analysis ran with --cfg-options: give the same ones when training, except '
                f'those under {ANCHOR_KEY} (they would override the fitted boxes).'
            )
        path = write_fitted_config(out_dir, config_path, overrides, header)
        log(check_fitted_config(path, cfg_options))
        log('the same default boxes on the command line:')
        log(f'  {cfg_options_line(overrides)}')
    report = build_report(
        config_path, gt, thr, stock_cfg, summary_before, summary_after, fitted_cfg, notes
    )
    _write_report(out_dir, report)
    log(format_table(report))
    if plots:
        from .plots import plot_best_iou_hist, plot_shapes

        plot_best_iou_hist(
            osp.join(out_dir, 'best_iou_hist.png'),
            before.best_iou,
            thr,
            after.best_iou if after is not None else None,
            title=f'{osp.basename(config_path)}: best default-box IoU per ground truth',
        )
        plot_shapes(
            osp.join(out_dir, 'gt_shapes.png'),
            gt.boxes,
            stock_shapes(generator),
            stock_shapes(fitted_generator) if fitted_generator is not None else None,
            title=f'{osp.basename(config_path)}: ground truth and default-box shapes',
        )
    return report
