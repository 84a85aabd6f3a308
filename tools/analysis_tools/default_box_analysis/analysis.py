"""The default-box analysis end to end (what ``tools/analysis_tools/default_boxes.py`` runs).

:class:`DefaultBoxAnalysis` reads the training boxes, measures the configured
default boxes and the grid's ceiling, fits (``--fit``), repeats that at other
input sizes (``--input-sizes``) and writes ``report.json``, the fitted configs
and the plots. It holds what every step needs (the options, the thresholds,
where the outputs go), so each step takes only its data.
"""

import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .coverage import (
    SIZE_BINS,
    Ceiling,
    MatchResult,
    ceiling_stats,
    grid_ceiling,
    level_geometry,
    match_default_boxes,
    summarize,
)
from .fit import FitResult, fit_default_boxes, stock_settings
from .ground_truth import (
    ANCHOR_KEY,
    DefaultBoxesError,
    GroundTruth,
    anchor_generator_cfg,
    assigner_thresholds,
    build_anchor_generator,
    check_train_data,
    load_train_boxes,
    train_datasets,
    without_scope,
)
from .input_sizes import compare_input_sizes, configured_input
from .report import (
    describe_ceiling,
    describe_fit_gap,
    format_sizes_table,
    format_table,
    plot_best_iou_hist,
    plot_shapes,
    write_fitted_config,
)


@dataclass
class SizeRun:
    """The analysis (and fit) of one anchor generator on one set of boxes.

    Attributes:
        cfg: The config analysed (at its input size).
        stock_cfg: The configured anchor generator config.
        generator: It, built.
        gt: The ground truths.
        before: The configured boxes' :class:`MatchResult`, ``summary_before``
            its :func:`summarize`.
        ceiling: The grid's :class:`Ceiling`, ``ceiling_summary`` its
            :func:`ceiling_stats`.
        fit: The :class:`FitResult` (None without a fit, or one that failed).
        fitted_cfg, fitted_generator, after, summary_after: The same of the
            fitted boxes (None where the fit changed no level).
        fit_error: Why no fit was written (``--input-sizes`` goes on).
    """

    cfg: Any
    stock_cfg: Dict
    generator: Any
    gt: GroundTruth
    before: MatchResult
    summary_before: Dict
    ceiling: Ceiling
    ceiling_summary: Dict
    fit: Optional[FitResult] = None
    fitted_cfg: Optional[Dict] = None
    fitted_generator: Any = None
    after: Optional[MatchResult] = None
    summary_after: Optional[Dict] = None
    fit_error: Optional[str] = None

    @property
    def summary(self) -> Dict:
        """The fitted boxes' summary, or the configured ones' without a fit."""
        return self.summary_after or self.summary_before

    def per_size(self, configured: bool = False) -> Dict[str, Dict]:
        """Per size bin: ``coverage_ceiling``, ``coverage`` (and ``coverage_configured``)."""
        out = {}
        for name in SIZE_BINS:
            out[name] = dict(
                coverage_ceiling=self.ceiling_summary['per_size'][name]['coverage_ceiling'],
                coverage=self.summary['per_size'][name]['coverage'],
            )
            if configured:
                out[name]['coverage_configured'] = self.summary_before['per_size'][name]['coverage']
        return out

    def ceiling_notes(self) -> List[str]:
        """The ceiling in words, and how close the fit came."""
        lines = describe_ceiling(self.ceiling, self.gt, self.generator.strides)
        if self.summary_after is None:
            return lines
        ceil, after = self.ceiling_summary, self.summary_after
        parts = [
            f'{name} {after["per_size"][name]["coverage"]:.4f} of '
            f'{ceil["per_size"][name]["coverage_ceiling"]:.4f}'
            for name in SIZE_BINS
            if after['per_size'][name]['num_gt']
        ]
        gap = ceil['all']['coverage_ceiling'] - after['all']['coverage']
        lines.append(
            f'fit vs ceiling: coverage {after["all"]["coverage"]:.4f} of a ceiling '
            f'of {ceil["all"]["coverage_ceiling"]:.4f} ({gap:.4f} short; {", ".join(parts)})'
        )
        mins, maxs, _ = stock_settings(self.fitted_generator, self.fitted_cfg.get('ratios'))
        sides = [(m, (m * x) ** 0.5) for m, x in zip(mins, maxs)]
        strides = self.fitted_generator.strides
        return lines + describe_fit_gap(self.ceiling, self.after.best_iou, self.gt, strides, sides)


@dataclass
class DefaultBoxAnalysis:
    """The default-box analysis of one config: what the tool's options set.

    ``DefaultBoxAnalysis(config_path, out_dir, fit=True).run(cfg)`` analyses
    (and refits) the default boxes of ``cfg`` and writes the outputs.

    Attributes:
        config_path: The analysed config (the fitted configs inherit it).
        out_dir: Where ``report.json``, the PNGs and the fitted configs go.
        fit: Search better default boxes.
        max_ratios: Aspect ratios per level for the fit (None: keep).
        fit_samples: Ground truths the search scores.
        seed: Seed of the search subset.
        min_coverage: Coverage floors per size bin for the fit (bins not
            given keep the configured boxes' coverage).
        ordered_sizes: Keep fitted sizes rising with the stride.
        input_sizes: Also analyse and fit at these input sides (implies
            ``fit``), and recommend one.
        target: Coverage the recommended input size should reach.
        plots: Write the PNGs.
        cfg_options: The ``--cfg-options`` given (applied to the fitted
            configs' build check too).
        log: Where lines go.
    """

    config_path: str
    out_dir: str
    fit: bool = False
    max_ratios: Optional[int] = None
    fit_samples: int = 20000
    seed: int = 0
    min_coverage: Optional[Dict[str, float]] = None
    ordered_sizes: bool = True
    input_sizes: Optional[Sequence[int]] = None
    target: float = 0.95
    plots: bool = True
    cfg_options: Optional[Dict] = None
    log: Callable[[str], None] = print
    # the assigner's pos_iou_thr and min_pos_iou, read from the config by run()
    thr: float = field(default=0.5, init=False)
    min_pos_iou: float = field(default=0.0, init=False)

    def run(self, cfg: Any) -> Dict:
        """Analyse (and refit) the default boxes of ``cfg`` (the merged config); write the outputs.

        Torch runs on one thread meanwhile (restored after). The matching and
        the fit are many small torch operations; with two or more threads each
        one is an OpenMP region whose threads wait for each other, and on a
        machine whose cores are busy with other work that wait dominates: the
        860k-box matching took 134 s of CPU with 2 threads and 7 s with 1
        (2 cores, load about 3.7). On idle cores 1 thread costs little (7 s
        instead of 5 s).

        Returns:
            The report (also written to ``out_dir/report.json``).

        Raises:
            DefaultBoxesError: for unusable input, with what to fix.
        """
        num_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._run(cfg)
        finally:
            torch.set_num_threads(num_threads)

    def measure(self, cfg: Any, gen_cfg: Dict, gt: Any = None, what: str = ANCHOR_KEY) -> SizeRun:
        """Measure the default boxes of ``gen_cfg`` and the grid's ceiling on ``gt``
        (None: read from ``cfg``'s training set)."""
        generator = build_anchor_generator(gen_cfg, what)
        progress = gt is None
        if gt is None:
            self.log('reading the training annotations ...')
            gt = load_train_boxes(cfg)
            for line in gt.sources:
                self.log(f'  {line}')
            self.log(f'{len(gt)} ground-truth boxes; matching at IoU >= {self.thr:g} ...')
        before = match_default_boxes(generator, gt, self.thr, self.min_pos_iou, progress=progress)
        ceiling = grid_ceiling(generator, gt, self.thr)
        return SizeRun(
            cfg,
            gen_cfg,
            generator,
            gt,
            before,
            summarize(before, gt.boxes),
            ceiling,
            ceiling_stats(ceiling, gt.boxes),
        )

    def fit_run(self, run: SizeRun, strict: bool = True) -> None:
        """Fit ``run``'s boxes, keeping every size bin's floor on all its ground truths.

        The search scores a sample; a bin that ends below its floor on all
        ground truths (sampling, or float ties at the threshold) is searched
        again with its floor raised by the gap, twice at most. Unless
        ``strict``, a fit that cannot keep the floors is noted in
        ``run.fit_error``, not raised (``--input-sizes`` goes on to the other
        sizes, where the grid may allow it).

        Raises:
            DefaultBoxesError: (``strict``) a floor no candidate reaches, or
                one the fit keeps on its sample only.
        """
        try:
            self._fit(run)
        except DefaultBoxesError as err:
            if strict:
                raise
            run.fit, run.fit_error = None, f'no fit written at this input size: {err}'
            self.log(run.fit_error)

    def _fit(self, run: SizeRun) -> None:
        stock = run.summary_before['per_size']
        floors_all = {}
        for name in SIZE_BINS:
            if stock[name]['num_gt']:
                given = (self.min_coverage or {}).get(name)
                floors_all[name] = float(given) if given is not None else stock[name]['coverage']
        floors = dict(self.min_coverage or {})
        for _ in range(3):
            result = fit_default_boxes(
                run.generator,
                run.stock_cfg.get('ratios'),
                run.gt,
                self.thr,
                num_ratios=self.max_ratios,
                max_samples=self.fit_samples,
                seed=self.seed,
                min_coverage=floors,
                ordered_sizes=self.ordered_sizes,
                log=self.log,
            )
            if result.shortfall:
                missing = ', '.join(
                    f'{name} >= {result.floors[name]:.4f} ({num} ground truths short; ceiling '
                    f'{run.ceiling_summary["per_size"][name]["coverage_ceiling"]:.4f})'
                    for name, num in result.shortfall.items()
                )
                raise DefaultBoxesError(
                    f"--fit cannot keep the size bins' coverage floors: {missing}. No size or "
                    'aspect ratio tried reaches them; lower --min-coverage (the ceiling is the '
                    'most any boxes centred on this grid can reach).'
                )
            run.fit = result
            if len(result.unchanged) == run.generator.num_levels:
                return
            fitted_cfg = dict(run.stock_cfg, **self._overrides(result))
            generator = build_anchor_generator(fitted_cfg, 'the fitted anchor generator')
            self.log('matching the fitted default boxes ...')
            after = match_default_boxes(
                generator, run.gt, self.thr, self.min_pos_iou, progress=True
            )
            summary = summarize(after, run.gt.boxes)
            below = {
                name: summary['per_size'][name]['coverage']
                for name, floor in floors_all.items()
                if summary['per_size'][name]['coverage'] < floor - 1e-12
            }
            if not below:
                run.fitted_cfg, run.fitted_generator = fitted_cfg, generator
                run.after, run.summary_after = after, summary
                return
            for name, cov in below.items():
                n = max(1, round(stock[name]['num_gt'] * result.sample_size / len(run.gt)))
                floors[name] = min(1.0, result.floors[name] + floors_all[name] - cov + 1.0 / n)
                self.log(
                    f'the fit left {name} at {cov:.4f} < {floors_all[name]:.4f} on all ground '
                    f'truths; searching again with its floor at {floors[name]:.4f} on the sample'
                )
        raise DefaultBoxesError(
            f"--fit keeps the size bins' coverage on its sample of {self.fit_samples} but not on "
            f'all {len(run.gt)} ground truths ({below}); give --fit-samples {len(run.gt)}'
        )

    @staticmethod
    def _overrides(fit: FitResult) -> Dict:
        """The keys of the anchor generator the fit sets."""
        return dict(
            min_sizes=[float(v) for v in fit.min_sizes],
            max_sizes=[float(v) for v in fit.max_sizes],
            ratios=[[float(r) for r in level] for level in fit.ratios],
        )

    def _run(self, cfg: Any) -> Dict:
        input_sizes, config_path = self.input_sizes, self.config_path
        fit = self.fit or bool(input_sizes)
        stock_cfg = anchor_generator_cfg(cfg, config_path)
        self.thr, self.min_pos_iou, notes = assigner_thresholds(cfg)
        build_anchor_generator(stock_cfg)
        check_train_data(cfg, config_path)
        for key, _, _, skipped in train_datasets(cfg):
            if skipped:
                notes.append(f'{key}: left out (random or photometric): {", ".join(skipped)}')
        base_size = max(configured_input(cfg)) if input_sizes else None
        run = self.measure(cfg, stock_cfg)
        os.makedirs(self.out_dir, exist_ok=True)
        if fit:
            self.fit_run(run, strict=not input_sizes)
        if run.fit is not None:
            for _, reason in run.fit.unchanged:
                self.log(f'note: {reason}')
                notes.append(reason)
            notes += run.fit.notes
        if run.fit_error is not None:
            notes.append(run.fit_error)
        unchanged = fit and run.fitted_cfg is None and not input_sizes
        ceiling_notes = run.ceiling_notes()
        floors = run.fit.floors if run.fit is not None and not unchanged else None
        report = self._report(run, notes, ceiling_notes, floors)
        if unchanged:
            self._write_report(report)
            raise DefaultBoxesError(
                f'--fit cannot change any level of {config_path}: no size or aspect ratio '
                'tried improves coverage or the mean best IoU on its training set (with every '
                'size bin kept at its floor), so the configured default boxes are the best the '
                f'search found (coverage {run.summary_before["all"]["coverage"]:.4f}); no '
                f'fitted config written. The configured boxes are in '
                f'{osp.join(self.out_dir, "report.json")}.'
            )
        for line in ceiling_notes:
            self.log(line)
        if input_sizes:
            report.update(compare_input_sizes(self, run, base_size))
        elif run.fitted_cfg is not None:
            self.write_fitted(run)
        self._write_report(report)
        self.log(format_table(report))
        if input_sizes:
            self.log(format_sizes_table(report))
        if self.plots:
            name = osp.basename(config_path)
            plot_best_iou_hist(
                osp.join(self.out_dir, 'best_iou_hist.png'),
                self.thr,
                f'{name}: best default-box IoU per ground truth',
                [
                    ('configured', run.before.best_iou),
                    ('fitted', run.after.best_iou if run.after is not None else None),
                    ('grid ceiling', run.ceiling.best_iou),
                ],
            )
            shapes = [  # the levels' box widths and heights, (A, 2) each
                [s.numpy() for _, _, s in level_geometry(g)] if g is not None else None
                for g in (run.generator, run.fitted_generator)
            ]
            plot_shapes(
                osp.join(self.out_dir, 'gt_shapes.png'),
                run.gt.boxes,
                *shapes,
                title=f'{name}: ground truth and default-box shapes',
            )
        return report

    def _report(
        self, run: SizeRun, notes: List[str], ceiling_notes: List[str], floors: Optional[Dict]
    ) -> Dict:
        """The content of ``report.json`` (without ``--input-sizes``' keys).

        ``coverage``, ``mean_best_iou`` and ``positives_per_gt`` are each
        ``{"before", "after"}`` (``after`` only with a fit), beside
        ``coverage_ceiling`` and ``mean_iou_ceiling``; ``per_size`` has the
        same per size bin (and the levels' shares); then the ceiling in words,
        the coverage each size bin had to keep in the fit (``fit_floors``, on
        its sample), the configured and fitted anchor generators, the sources
        read and the notes (skipped transforms, unchanged levels).
        """
        before, after = run.summary_before, run.summary_after
        after_all = after['all'] if after else None

        def pair(configured: Dict, fitted: Optional[Dict], key: str) -> Dict:
            if fitted is None:
                return dict(before=configured.get(key))
            return dict(before=configured.get(key), after=fitted.get(key))

        fields = ('coverage', 'mean_best_iou', 'positives_per_gt')
        levels = ('best_match_levels', 'positive_levels')
        report = dict(
            config=self.config_path,
            pos_iou_thr=self.thr,
            num_gt=len(run.gt),
            num_images=run.gt.num_images,
            num_ignored=run.gt.num_ignored,
            coverage=pair(before['all'], after_all, 'coverage'),
            **run.ceiling_summary['all'],  # coverage_ceiling, mean_iou_ceiling
        )
        report.update({key: pair(before['all'], after_all, key) for key in fields[1:]})
        report['per_size'] = {
            name: dict(
                num_gt=stats['num_gt'],
                **run.ceiling_summary['per_size'][name],
                **{k: pair(stats, after and after['per_size'][name], k) for k in fields + levels},
            )
            for name, stats in before['per_size'].items()
        }
        report['ceiling_notes'] = list(ceiling_notes)
        report['fit_floors'] = floors
        report['levels'] = {key: pair(before['all'], after_all, key) for key in levels}
        report['anchor_generator'] = without_scope(run.stock_cfg)
        fitted = run.fitted_cfg
        report['fitted_anchor_generator'] = without_scope(fitted) if fitted else None
        report['sources'] = list(run.gt.sources)
        report['notes'] = list(notes)
        return report

    def _write_report(self, report: Dict) -> None:
        with open(osp.join(self.out_dir, 'report.json'), 'w') as f:
            json.dump(report, f, indent=1)

    def write_fitted(
        self,
        run: SizeRun,
        size: Optional[int] = None,
        loaders: Optional[Dict] = None,
        words: Sequence[str] = (),
        name: str = 'fitted_config.py',
        quiet: bool = False,
    ) -> str:
        """Write and check a fitted config (at ``size``: its anchor generator and pipelines)."""
        if size is None:
            overrides = self._overrides(run.fit)
        else:
            overrides = {
                k: v
                for k, v in (run.fitted_cfg or run.stock_cfg).items()
                if k not in ('type', '_scope_')
            }
        before, after = run.summary_before['all'], run.summary['all']
        at = f' at input size {size}' if size is not None else ''
        header = [
            f'Written by tools/analysis_tools/default_boxes.py --fit on {self.config_path}.',
            f'Default boxes fitted to its training set{at} ({len(run.gt)} boxes): coverage at '
            f'IoU >= {self.thr:g} {before["coverage"]:.4f} -> {after["coverage"]:.4f} (grid '
            f'ceiling {run.ceiling_summary["all"]["coverage_ceiling"]:.4f}), mean best IoU '
            f'{before["mean_best_iou"]:.4f} -> {after["mean_best_iou"]:.4f}.',
        ]
        if self.cfg_options:
            header.append(
                'The analysis ran with --cfg-options: give the same ones when training, except '
                f'those under {ANCHOR_KEY} (they would override the fitted boxes).'
            )
        path = osp.join(self.out_dir, name)
        checked, line = write_fitted_config(
            path, self.config_path, header, overrides, loaders, words, self.cfg_options
        )
        if not quiet:
            self.log(checked)
            self.log('the same default boxes on the command line:')
            self.log(f'  {line}')
        return path
