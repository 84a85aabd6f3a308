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


@pytest.mark.parametrize('epochs', [1, 2, 16])
def test_every_epoch_count_builds_its_schedulers(tmp_path, epochs):
    from ssd_demo.demo import build_config

    cfg = build_config(_args(tmp_path), epochs)
    assert cfg.train_cfg.max_epochs == epochs == cfg.train_cfg.val_interval
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for scheduler in cfg.param_scheduler:  # mmengine refuses end <= begin
        PARAM_SCHEDULERS.build(dict(scheduler, optimizer=optimizer, epoch_length=10))
    decay = [s for s in cfg.param_scheduler if s.get('by_epoch', True)]
    if epochs == 1:
        # The decay begins at epoch 1: in one epoch it never steps (as in a
        # TimeBudgetHook run of one epoch), so the config has the warm-up only.
        assert decay == []
    else:
        assert [(s.begin, s.end) for s in decay] == [(1, epochs)]
