"""``ssd_demo.demo.build_config``: the demo config of ``--epochs N``."""

import argparse
import os.path as osp

import pytest
import torch
from mmengine.registry import PARAM_SCHEDULERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo', 'ssd_cspdarknet_synthetic_cpu.py')


def _args(tmp_path) -> argparse.Namespace:
    return argparse.Namespace(
        config=DEMO_CONFIG,
        data_root=str(tmp_path / 'data'),
        work_dir=str(tmp_path / 'work'),
        cfg_options=None,
    )


@pytest.mark.parametrize('epochs', [1, 2, 3, 32])
def test_every_epoch_count_builds_its_schedulers(tmp_path, epochs):
    from ssd_demo.demo import build_config

    cfg = build_config(_args(tmp_path), epochs)
    assert cfg.train_cfg.max_epochs == epochs == cfg.train_cfg.val_interval
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for scheduler in cfg.param_scheduler:  # mmengine refuses end <= begin
        PARAM_SCHEDULERS.build(dict(scheduler, optimizer=optimizer, epoch_length=10))
    decay = [s for s in cfg.param_scheduler if s.get('by_epoch', True)]
    if epochs <= 2:
        # The decay begins at epoch 2 (a pass: the sampler splits each in two): in two
        # epochs it never steps (as in a TimeBudgetHook run of two), so the config has
        # the warm-up only.
        assert decay == []
    else:
        assert [(s.begin, s.end) for s in decay] == [(2, epochs)]


def test_an_epoch_is_half_a_pass(tmp_path):
    from ssd_demo.demo import build_config

    cfg = build_config(_args(tmp_path))
    assert cfg.train_dataloader.sampler == dict(
        type='ssd_plugin.SplitEpochSampler', splits=2, shuffle=True
    )
    resize = cfg.model.data_preprocessor.batch_augments[0]
    assert (resize.end_epoch, cfg.train_cfg.max_epochs) == (8, 32)  # 4 and 16 passes
