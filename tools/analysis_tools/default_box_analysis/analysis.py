"""The default-box analysis end to end (what ``tools/analysis_tools/default_boxes.py`` runs).

:class:`DefaultBoxAnalysis` reads the training boxes, measures the configured
default boxes and the grid's ceiling, fits (``--fit``), repeats that at other
input sizes (``--input-sizes``) and writes ``report.json``, the fitted configs
and the plots. It holds what every step needs (the options, the thresholds,
where the outputs go), so each step takes only its data.
"""

import contextlib
import copy
import json
import os
import os.path as osp
import pprint
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

from .ceiling import ceiling_stats, describe_ceiling, describe_fit_gap, grid_ceiling
from .coverage import SIZE_BINS, match_default_boxes, stock_shapes, summarize
from .errors import DefaultBoxesError
from .fit import fit_default_boxes, stock_settings
from .ground_truth import load_train_boxes, train_datasets
from .input_sizes import (
    backbone_features_at_stride,
    configured_input,
    featmap_sizes,
    input_shape_at,
    model_flops,
    num_priors,
    resized_config,
    sized_generator_cfg,
)
from .report import (
    ANCHOR_KEY,
    anchor_generator_cfg,
    assigner_thresholds,
    build_anchor_generator,
    build_report,
    cfg_literal,
    cfg_options_line,
    check_fitted_config,
    fitted_keys,
    fitted_overrides,
    format_sizes_table,
    format_table,
    plain,
    without_scope,
)


def check_train_data(cfg: Any, config_path: str) -> None:
    """The run checks' dataset test on the training set, images left out.

    Raises:
        DefaultBoxesError: naming each missing annotation file or root and
            how to get the data (``ssd_plugin.apis.dataset_checks.dataset_problems``).
    """
    from ssd_plugin.apis.dataset_checks import dataset_problems

    problems, hints = dataset_problems(cfg, ['train_dataloader'], images=False)
    if problems:
        lines = [
            f'Cannot analyse the default boxes of {config_path}: the training annotations are '
            f'missing (relative paths are from {os.getcwd()}; images are not needed):'
        ]
        lines += [f'  - {p}' for p in problems] + hints
        raise DefaultBoxesError('\n'.join(lines))


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


@dataclass
class _SizeRun:
    """The analysis (and fit) of one anchor generator on one set of boxes."""

    cfg: Any
    stock_cfg: Dict
    generator: Any
    gt: Any
    before: Any
    summary_before: Dict
    ceiling: Any
    ceiling_summary: Dict
    fit: Any = None
    fitted_cfg: Optional[Dict] = None
    fitted_generator: Any = None
    after: Any = None
    summary_after: Optional[Dict] = None
    fit_error: Optional[str] = None

    @property
    def summary(self) -> Dict:
        """The fitted boxes' summary, or the configured ones' without a fit."""
        return self.summary_after or self.summary_before

    @property
    def coverage(self) -> float:
        """The fitted boxes' coverage, or the configured ones' without a fit."""
        return self.summary['all']['coverage']

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

    def ceiling_lines(self) -> List[str]:
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
        lines += describe_fit_gap(
            self.ceiling,
            self.after.best_iou,
            self.gt,
            self.fitted_generator.strides,
            [(m, (m * x) ** 0.5) for m, x in zip(mins, maxs)],
        )
        return lines


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

        Returns:
            The report (also written to ``out_dir/report.json``).

        Raises:
            DefaultBoxesError: for unusable input, with what to fix.
        """
        with _one_torch_thread():  # many small torch operations
            return self._run(cfg)

    def measure(self, cfg: Any, gen_cfg: Dict, gt: Any = None, what: str = ANCHOR_KEY) -> _SizeRun:
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
        return _SizeRun(
            cfg,
            gen_cfg,
            generator,
            gt,
            before,
            summarize(before, gt.boxes),
            ceiling,
            ceiling_stats(ceiling, gt.boxes),
        )

    def fit_run(self, run: _SizeRun, strict: bool = True) -> None:
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

    def _fit(self, run: _SizeRun) -> None:
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
            fitted_cfg = dict(run.stock_cfg, **fitted_overrides(result))
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

    def _run(self, cfg: Any) -> Dict:
        input_sizes = self.input_sizes
        fit = self.fit or bool(input_sizes)
        config_path, out_dir = self.config_path, self.out_dir
        stock_cfg = anchor_generator_cfg(cfg, config_path)
        self.thr, self.min_pos_iou, notes = assigner_thresholds(cfg)
        build_anchor_generator(stock_cfg)
        check_train_data(cfg, config_path)
        for key, _, _, skipped in train_datasets(cfg):
            if skipped:
                notes.append(f'{key}: left out (random or photometric): {", ".join(skipped)}')
        base_size = max(configured_input(cfg)) if input_sizes else None
        run = self.measure(cfg, stock_cfg)
        os.makedirs(out_dir, exist_ok=True)
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
        ceiling_notes = run.ceiling_lines()
        report = build_report(
            config_path, run.gt, self.thr, stock_cfg, run.summary_before, run.summary_after,
            run.fitted_cfg, notes, ceiling=run.ceiling_summary, ceiling_notes=ceiling_notes,
            floors=run.fit.floors if run.fit is not None and not unchanged else None,
        )  # fmt: skip
        if unchanged:
            self._write_report(report)
            raise DefaultBoxesError(
                f'--fit cannot change any level of {config_path}: no size or aspect ratio '
                'tried improves coverage or the mean best IoU on its training set (with every '
                'size bin kept at its floor), so the configured default boxes are the best the '
                f'search found (coverage {run.summary_before["all"]["coverage"]:.4f}); no '
                f'fitted config written. The configured boxes are in '
                f'{osp.join(out_dir, "report.json")}.'
            )
        for line in ceiling_notes:
            self.log(line)
        sizes_report = None
        if input_sizes:
            sizes_report = self.compare_input_sizes(run, base_size)
            report.update(sizes_report)
        elif run.fitted_cfg is not None:
            self.write_fitted(run)
        self._write_report(report)
        self.log(format_table(report))
        if sizes_report is not None:
            self.log(format_sizes_table(sizes_report))
        if self.plots:
            self._plot(run)
        return report

    def _write_report(self, report: Dict) -> None:
        with open(osp.join(self.out_dir, 'report.json'), 'w') as f:
            json.dump(report, f, indent=1)

    def _plot(self, run: _SizeRun) -> None:
        from .plots import plot_best_iou_hist, plot_shapes

        name = osp.basename(self.config_path)
        plot_best_iou_hist(
            osp.join(self.out_dir, 'best_iou_hist.png'),
            run.before.best_iou,
            self.thr,
            run.after.best_iou if run.after is not None else None,
            title=f'{name}: best default-box IoU per ground truth',
            ceiling=run.ceiling.best_iou,
        )
        plot_shapes(
            osp.join(self.out_dir, 'gt_shapes.png'),
            run.gt.boxes,
            stock_shapes(run.generator),
            stock_shapes(run.fitted_generator) if run.fitted_generator is not None else None,
            title=f'{name}: ground truth and default-box shapes',
        )

    def write_fitted(
        self,
        run: _SizeRun,
        size: Optional[int] = None,
        loaders: Optional[Dict] = None,
        words: Sequence[str] = (),
        name: str = 'fitted_config.py',
        quiet: bool = False,
    ) -> str:
        """Write and check a fitted config (at ``size``: its anchor generator and pipelines)."""
        if size is None:
            overrides = fitted_overrides(run.fit)
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
        keys = [f'{key}={cfg_literal(plain(overrides[key]))}' for key in fitted_keys(overrides)]
        what = (
            "# The default boxes and the input size change; levels are the base config's."
            if loaders
            else "# Only the default boxes change; levels and strides are the base config's."
        )
        lines = [f'# {line}' for line in header] + [
            f'_base_ = {osp.abspath(self.config_path)!r}',
            '',
            what,
            'model = dict(',
            '    bbox_head=dict(',
            '        anchor_generator=dict(',
            *(f'            {key},' for key in keys),
            '        )',
            '    )',
            ')',
            '',
        ]
        for key, value in (loaders or {}).items():
            lines += [f'{key} = {pprint.pformat(plain(value), width=96, sort_dicts=False)}', '']
        path = osp.join(self.out_dir, name)
        with open(path, 'w') as f:
            f.write('\n'.join(lines))
        line = check_fitted_config(path, self.cfg_options)
        if not quiet:
            self.log(line)
            self.log('the same default boxes on the command line:')
            self.log(f'  {cfg_options_line(overrides, words)}')
        return path

    def compare_input_sizes(self, run: _SizeRun, base_size: int) -> Dict:
        """Analyse and fit at each input size; recommend one; write its fitted config."""
        from ssd_plugin.registry import MODELS

        cfg, target = run.cfg, self.target
        model = MODELS.build(copy.deepcopy(cfg.model))
        h0, w0 = input_shape_at(cfg, base_size)
        flops0 = model_flops(model, h0, w0)
        runs = {base_size: (run, {}, [], (h0, w0))}
        for size in sorted({int(s) for s in self.input_sizes} - {base_size}):
            h, w = input_shape_at(cfg, size)
            featmaps = featmap_sizes(model, h, w)
            cfg_s, gen_cfg, loaders, words = resized_config(
                cfg, run.generator, run.stock_cfg, size, featmaps
            )
            self.log(f'--- input size {size} ({w} x {h}) ---')
            run_s = self.measure(cfg_s, gen_cfg)
            self.fit_run(run_s, strict=False)
            runs[size] = (run_s, loaders, words, (h, w))
        entries = []
        for size, (run_s, loaders, words, (h, w)) in sorted(runs.items()):
            path = self.write_fitted(
                run_s, size, loaders, words, name=f'fitted_config_{size}.py', quiet=True
            )
            flops = flops0 if size == base_size else model_flops(model, h, w)
            entries.append(
                dict(
                    input_size=size,
                    input_shape=[h, w],
                    coverage_ceiling=run_s.ceiling_summary['all']['coverage_ceiling'],
                    coverage=run_s.coverage,
                    coverage_configured=run_s.summary_before['all']['coverage'],
                    mean_best_iou=run_s.summary['all']['mean_best_iou'],
                    per_size=run_s.per_size(configured=True),
                    num_priors=num_priors(run_s.fitted_generator or run_s.generator, h, w),
                    flops=flops,
                    relative_flops=flops / flops0,
                    fitted_anchor_generator=without_scope(run_s.fitted_cfg or run_s.stock_cfg),
                    fitted=run_s.fitted_cfg is not None,
                    fit_error=run_s.fit_error,
                    config=path,
                )
            )
        reaching = [e for e in entries if e['coverage'] >= target]
        best = (
            min(reaching, key=lambda e: e['input_size'])
            if reaching
            else max(entries, key=lambda e: (e['coverage'], -e['input_size']))
        )
        size = best['input_size']
        why = (
            f'the smallest input size whose fitted coverage reaches {target:g}'
            if reaching
            else f'no input size tried reaches coverage {target:g}: the one with the best coverage'
        )
        self.log(f'recommended input size: {size} ({why}; coverage {best["coverage"]:.4f})')
        run_s, loaders, words, _ = runs[size]
        if size == base_size and run_s.fitted_cfg is None:
            self.log(
                'the recommended size is the configured one, where the configured boxes are '
                'kept: no fitted_config.py'
            )
        else:
            self.write_fitted(run_s, size if size != base_size else None, loaders, words)
        return dict(
            input_sizes=entries,
            target=target,
            recommended_input_size=size,
            recommendation=why,
            finer_level=self.finer_level(run, model, h0, w0),
        )

    def finer_level(self, run: _SizeRun, model: Any, h: int, w: int) -> Dict:
        """What one more level at half the finest stride would give (at the configured size)."""
        gen = run.generator
        first = min(range(gen.num_levels), key=lambda k: max(gen.strides[k]))
        sw, sh = (float(v) for v in gen.strides[first])
        fine = tuple(int(v) if float(v).is_integer() else v for v in (sw / 2, sh / 2))
        stride = fine[0] if fine[0] == fine[1] else list(fine)
        mins, maxs, ratios = stock_settings(gen, run.stock_cfg.get('ratios'))
        features = backbone_features_at_stride(model, h, w, max(fine))
        gen_cfg = sized_generator_cfg(
            run.stock_cfg,
            strides=[stride] + [list(s) if s[0] != s[1] else s[0] for s in gen.strides],
            ratios=[list(ratios[first])] + [list(r) for r in ratios],
            min_sizes=[round(mins[first] / 2, 2)] + [round(v, 2) for v in mins],
            max_sizes=[round(mins[first], 2)] + [round(v, 2) for v in maxs],
        )
        extra = self.measure(run.cfg, gen_cfg, run.gt, 'the finer level')
        self.log(f'--- a finer level at stride {fine[0]:g} (configured input size) ---')
        self.fit_run(extra, strict=False)
        note = (
            f'the backbone computes stride-{fine[0]:g} feature maps (e.g. {features[0][0]}, '
            f"{features[0][1]} channels): a level there needs the backbone's out_indices or the "
            'neck to pass it on, and one more head level'
            if features
            else f'the backbone computes no stride-{fine[0]:g} feature map at this input: a finer '
            'level needs another backbone'
        )
        return dict(
            stride=stride,
            backbone_features=[dict(module=m, channels=c) for m, c in features],
            available=bool(features),
            coverage_ceiling=extra.ceiling_summary['all']['coverage_ceiling'],
            coverage=extra.coverage,
            per_size=extra.per_size(),
            num_priors=num_priors(extra.fitted_generator or extra.generator, h, w),
            anchor_generator=without_scope(extra.fitted_cfg or gen_cfg),
            note=note,
        )
