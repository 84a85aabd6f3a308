"""The tool layer that runs mmdet's analysis tools on plugin configs."""

import os
import os.path as osp
import sys

import pytest

from ssd_plugin.apis import mmdet_analysis_tool as tool
from ssd_plugin.apis.mmdet_analysis_tool import (
    MMDET_ANALYSIS_TOOLS,
    find_scalars_json,
    mmdet_tool_path,
    run_mmdet_tool,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_every_supported_tool_is_in_the_installed_mmdet():
    for name in MMDET_ANALYSIS_TOOLS:
        path = mmdet_tool_path(name)
        assert path.endswith(os.path.join('analysis_tools', f'{name}.py')) and os.path.isfile(path)


def test_unknown_tool_is_named():
    with pytest.raises(ValueError, match='not_a_tool'):
        run_mmdet_tool('not_a_tool', [])
    with pytest.raises(FileNotFoundError, match='not_a_tool'):
        mmdet_tool_path('not_a_tool')


def test_find_scalars_json_takes_the_newest_run(tmp_path):
    for stamp in ('20260101_000000', '20260102_000000'):
        (tmp_path / stamp / 'vis_data').mkdir(parents=True)
        (tmp_path / stamp / 'vis_data' / 'scalars.json').write_text('{}\n')
    newest = str(tmp_path / '20260102_000000' / 'vis_data' / 'scalars.json')
    assert find_scalars_json(str(tmp_path)) == newest
    assert find_scalars_json(newest) == newest  # a file is passed through
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no training log'):
        find_scalars_json(str(tmp_path / 'empty'))


def test_analyze_logs_argv_expands_work_dirs_before_the_options(tmp_path):
    (tmp_path / 'r' / 'vis_data').mkdir(parents=True)
    log = tmp_path / 'r' / 'vis_data' / 'scalars.json'
    log.write_text('{}\n')
    argv = ['plot_curve', str(tmp_path), 'other.json', '--keys', 'loss', '--out', str(tmp_path)]
    assert tool._prepare_analyze_logs(argv) == (
        ['plot_curve', str(log), 'other.json', '--keys', 'loss', '--out', str(tmp_path)]
    )


def test_seaborn_stand_in_sets_matplotlib_style(monkeypatch):
    import importlib.util

    import matplotlib.pyplot as plt

    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None)
    monkeypatch.delitem(sys.modules, 'seaborn', raising=False)
    with plt.style.context('default'):
        tool._seaborn_stand_in()
        sns = sys.modules['seaborn']
        sns.set_style('whitegrid')
        assert plt.rcParams['axes.grid'] is True
        with pytest.raises(ValueError, match='nope'):
            sns.set_style('nope')


def test_mmdets_loading_pipeline_keeps_the_configs_loaders():
    """analyze_results rebuilds the test pipeline with mmdet's get_loading_pipeline,
    which keeps a step only if mmdet's registry gives mmcv's LoadImageFromFile or mmdet's
    LoadAnnotations: the configs' standard step names pass, unpatched."""
    from mmdet.datasets import get_loading_pipeline
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ssd300_coco.py'))
    pipeline = cfg.train_dataloader.dataset.dataset.pipeline
    assert [s['type'] for s in get_loading_pipeline(pipeline)] == [
        'LoadImageFromFile',
        'LoadAnnotations',
    ]
