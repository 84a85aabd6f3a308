"""TimeBudgetHook: the epochs set from the first steps' times, the run the same as --epochs N."""

import itertools
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner

from ssd_demo import time_budget_hook
from ssd_demo.time_budget_hook import PLAN_FILE, TimeBudgetHook, read_plan
from ssd_plugin.models import ProgressiveBatchResize


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels)) ** 2).mean())
        return out


def _decay(kind: str, begin: int, epochs: int) -> dict:
    """The scheduler that ends with the training: a cosine or a linear decay."""
    common = dict(begin=begin, end=epochs, by_epoch=True, convert_to_iter_based=True)
    if kind == 'cosine':
        return dict(type='CosineAnnealingLR', T_max=epochs - begin, eta_min=0.001, **common)
    return dict(type='LinearLR', start_factor=1.0, end_factor=0.01, **common)


def _runner(work_dir, epochs, hooks=(), cosine_begin=1, decay='cosine'):
    torch.manual_seed(0)  # the model's initial weights
    generator = torch.Generator().manual_seed(0)
    data = [
        dict(inputs=torch.randn(2, generator=generator), labels=torch.randn(1, generator=generator))
        for _ in range(16)
    ]
    return Runner(
        model=_Toy(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,  # 4 steps an epoch
            collate_fn=dict(type='pseudo_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
            _decay(decay, cosine_begin, epochs),
        ],
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=epochs)),
        custom_hooks=list(hooks),
        randomness=dict(seed=0),
        default_scope='mmengine',
    )


@pytest.fixture
def clock(monkeypatch):
    """time.time() of the hook: 100 at the start of training, then 10 s a call (a step)."""
    ticks = itertools.count(100, 10)
    monkeypatch.setattr(time_budget_hook, 'time', SimpleNamespace(time=lambda: next(ticks)))


@pytest.mark.parametrize('decay', ['cosine', 'linear'])
def test_the_budget_sets_the_epochs_and_trains_what_epochs_n_trains(tmp_path, clock, capsys, decay):
    # 100 s spent before training, 10 s a step, 4 steps an epoch: 3 epochs end at 220 s.
    hook = TimeBudgetHook(
        budget_s=229, started_at=0, probe_steps=3, warmup_steps=0, tail_steps=0, margin=0
    )
    budget = _runner(tmp_path / 'budget', epochs=6, hooks=[hook], decay=decay)
    budget.train()
    assert budget.train_loop.max_epochs == 3 and budget.iter == 12
    assert osp.isfile(tmp_path / 'budget' / 'epoch_3.pth')  # the checkpoint interval moved too
    plan = read_plan(str(tmp_path / 'budget'))
    assert plan['epochs'] == 3 and plan['steps_timed'] == 3
    assert plan['expected_s'] == pytest.approx(220)
    out = capsys.readouterr().out
    assert 'time budget 229 s: measured 10000 ms/step -> 3 epochs' in out
    assert "the recipe's 6 epochs would not fit" in out and '--epochs 3 reproduces this run' in out
    with open(tmp_path / 'budget' / PLAN_FILE) as f:
        assert json.load(f) == plan

    fixed = _runner(tmp_path / 'fixed', epochs=3, decay=decay)
    fixed.train()
    for name, value in fixed.model.state_dict().items():
        assert torch.equal(value, budget.model.state_dict()[name]), name
    assert fixed.optim_wrapper.get_lr() == budget.optim_wrapper.get_lr()


def test_a_fast_machine_keeps_the_configured_epochs(tmp_path, clock):
    hook = TimeBudgetHook(budget_s=10_000, started_at=0, probe_steps=2, warmup_steps=0)
    runner = _runner(tmp_path, epochs=2, hooks=[hook])
    runner.train()
    assert runner.train_loop.max_epochs == 2 and hook.plan['epochs'] == 2


def test_a_schedule_that_depends_on_the_epochs_before_the_decision_is_refused(tmp_path, clock):
    hook = TimeBudgetHook(budget_s=600, started_at=0, probe_steps=3)
    runner = _runner(tmp_path, epochs=4, hooks=[hook], cosine_begin=0)
    with pytest.raises(ValueError, match='begins at step 0, before the time budget decides'):
        runner.train()


def test_steps_at_a_progressive_resize_size_are_timed_and_planned_apart(tmp_path, monkeypatch):
    # 4 steps an epoch; steps 0-1 at the full input (10 s each), then the smaller input
    # (7 and 3 s: 5 s each, timed to the end of epoch 0 whatever probe_steps says) up to
    # the end of epoch 2: 6 small steps in any run of 2+ epochs. 3 epochs: 100 s spent
    # + 6 x 10 + 6 x 5 = 190 s, within 195; counted all at 10 s (or at 7), they would not.
    ticks = iter([100, 110, 120, 127, 130])
    monkeypatch.setattr(time_budget_hook, 'time', SimpleNamespace(time=lambda: next(ticks)))
    hook = TimeBudgetHook(
        budget_s=195, started_at=0, probe_steps=1, warmup_steps=0, tail_steps=0, margin=0
    )
    runner = _runner(tmp_path, epochs=6, hooks=[hook], decay='linear')
    resize = ProgressiveBatchResize(size=(1, 1), begin_iter=2, end_epoch=2)
    runner.model.data_preprocessor.batch_augments = torch.nn.ModuleList([resize])
    runner.train()
    assert runner.train_loop.max_epochs == 3
    assert runner.message_hub.get_info('max_epochs') == 3  # what the resize reads
    assert hook.plan['step_s'] == 10 and hook.plan['small_step_s'] == 5
    assert hook.plan['steps_timed'] == 4
    assert hook.plan['small_steps'] == 6 and hook.plan['expected_s'] == pytest.approx(190)
    assert 'measured 10000 ms/step (5000 at the smaller input, 6 steps)' in (hook.plan['line'])


def test_a_progressive_resize_from_the_first_step_leaves_nothing_to_time(tmp_path, clock):
    hook = TimeBudgetHook(budget_s=600, started_at=0, probe_steps=2, warmup_steps=0)
    runner = _runner(tmp_path, epochs=4, hooks=[hook])
    resize = ProgressiveBatchResize(size=(1, 1), begin_iter=0, end_epoch=2)
    runner.model.data_preprocessor.batch_augments = torch.nn.ModuleList([resize])
    with pytest.raises(ValueError, match='begins at step 0: the time budget needs more than 0'):
        runner.train()
