"""The analysis runs torch on one thread and gives the count back, also on errors."""

import pytest
import torch

from analysis_tools.default_box_analysis import analysis
from analysis_tools.default_box_analysis.ground_truth import DefaultBoxesError


def test_analysis_runs_torch_on_one_thread_and_restores_it(monkeypatch):
    seen = []

    def analyse(self, *args):
        seen.append(torch.get_num_threads())
        if len(seen) == 2:
            raise DefaultBoxesError('bad input')
        return {}

    monkeypatch.setattr(analysis.DefaultBoxAnalysis, '_run', analyse)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert analysis.DefaultBoxAnalysis('cfg.py', 'out').run(None) == {}
        assert torch.get_num_threads() == 2
        with pytest.raises(DefaultBoxesError):
            analysis.DefaultBoxAnalysis('cfg.py', 'out').run(None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    assert seen == [1, 1]


def _trade_run():
    """A :class:`analysis.SizeRun` of the fit tests' trade case (90 small, 10 medium)."""
    from test_default_boxes_fit import _trade_case

    from analysis_tools.default_box_analysis.coverage import (
        ceiling_stats,
        grid_ceiling,
        match_default_boxes,
        summarize,
    )

    gen, gt = _trade_case()
    stock_cfg = dict(
        type='SSDAnchorGenerator', strides=[8], ratios=[[]], min_sizes=[60], max_sizes=[60],
        input_size=128,
    )  # fmt: skip
    before = match_default_boxes(gen, gt, 0.5)
    ceil = grid_ceiling(gen, gt, 0.5)
    return analysis.SizeRun(
        None, stock_cfg, gen, gt, before, summarize(before, gt.boxes), ceil,
        ceiling_stats(ceil, gt.boxes),
    )  # fmt: skip


def test_fit_searches_again_when_a_bin_falls_below_its_floor_on_all_boxes(monkeypatch):
    # The search scores a sample; stand-in searches whose first answer trades the medium
    # objects away on all ground truths: the analysis searches again with medium's floor
    # raised, and keeps the answer that holds it (or stops after three).
    from analysis_tools.default_box_analysis.fit import FitResult

    traded = FitResult([10.0], [90.0], [[]], floors={'small': 0.0, 'medium': 1.0})
    kept = FitResult([60.0], [60.0], [[]], floors={'small': 0.0, 'medium': 1.0})
    calls = []

    def fake(*args, min_coverage=None, **kwargs):
        calls.append(dict(min_coverage or {}))
        return traded if len(calls) == 1 else kept

    monkeypatch.setattr(analysis, 'fit_default_boxes', fake)
    run = _trade_run()
    analysis.DefaultBoxAnalysis('cfg.py', 'out', log=lambda _: None).fit_run(run)
    assert calls[0] == {} and calls[1]['medium'] > 1.0 - 1e-9
    assert run.summary_after['per_size']['medium']['coverage'] == 1.0
    calls.clear()
    monkeypatch.setattr(analysis, 'fit_default_boxes', lambda *a, **k: calls.append(1) or traded)
    with pytest.raises(DefaultBoxesError, match='give --fit-samples 100'):
        analysis.DefaultBoxAnalysis('cfg.py', 'out', log=lambda _: None).fit_run(_trade_run())
    assert len(calls) == 3


def test_train_data_check_needs_annotations_not_images(tmp_path):
    """The analysis reads annotations only: a missing image folder is not a problem for it
    (inside a wrapper too), where the run checks of a training name it; a missing
    annotation file still is."""
    from mmengine.config import ConfigDict

    from ssd_plugin.apis.dataset_checks import dataset_problems

    (tmp_path / 'ann.json').write_text('{}')
    leaf = dict(type='CocoDataset', data_root=str(tmp_path), ann_file='ann.json')
    leaf['data_prefix'] = dict(img='train/')  # not there
    cfg = ConfigDict(
        train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2, dataset=leaf))
    )
    analysis.check_train_data(cfg, 'cfg.py')  # no error
    problems, _ = dataset_problems(cfg, ['train_dataloader'])
    assert problems == [
        f'train_dataloader.dataset.dataset (CocoDataset): data_prefix.img '
        f"'{tmp_path}/train/' does not exist"
    ]
    cfg.train_dataloader.dataset.dataset.ann_file = 'missing.json'
    with pytest.raises(DefaultBoxesError, match=r"ann_file '.*missing\.json' does not exist"):
        analysis.check_train_data(cfg, 'cfg.py')
