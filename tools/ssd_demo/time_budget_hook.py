"""Fit the epochs of a running training to a wall-clock budget (``tools/demo.py``).

The demo used to time a separate probe run before training: a second start of
the training processes and 25 steps that trained nothing, time a slow machine
could not spare. This hook times the first steps of the real training instead,
in the same processes, and then sets the number of epochs
(:func:`~ssd_demo.time_budget_plan.plan_epochs`) before any step
depends on it.

The run must stay exactly the run that ``--epochs N`` trains: the hook only
reads clocks, and it decides before the first step whose learning rate or
parameter value depends on the number of epochs. Schedulers that end with the
training (``end`` at its last step) must therefore begin at or after the
decision (e.g. a warm-up of fixed length, then a cosine that begins at epoch
1); the hook refuses a schedule where they do not. It then moves what ends
with the training to the new end, as ``tools/demo.py`` builds a config of N
epochs: the loop's epochs, the validation and checkpoint intervals that
equalled the epochs, and those schedulers' ``end`` (and ``T_max``).
"""

import functools
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from ssd_plugin.models import ProgressiveBatchResize
from ssd_plugin.registry import HOOKS

from .time_budget_plan import (
    MARGIN,
    PROBE_STEPS,
    PROBE_WARMUP_STEPS,
    TAIL_STEPS,
    mean_step_time,
    plan_epochs,
)

__all__ = ['PLAN_FILE', 'TimeBudgetHook', 'read_plan']

PLAN_FILE = 'time_budget_plan.json'  # in the work directory: the plan, once made


def read_plan(work_dir: str) -> Optional[Dict]:
    """The plan a :class:`TimeBudgetHook` wrote in ``work_dir`` (``epochs``,
    ``expected_s``, ``line``, ...), or None."""
    path = osp.join(work_dir, PLAN_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


@HOOKS.register_module()
class TimeBudgetHook(Hook):
    """Time the first training steps, then train the most epochs, up to the
    configured ones, that end within ``budget_s`` seconds of ``started_at``.

    The plan is made on rank 0 from its steps and broadcast, so every process
    trains the same epochs. Where the model's data preprocessor has a
    ``ProgressiveBatchResize``, the steps before its ``begin_iter`` time the
    full input and the steps after it, to the end of the first epoch, the
    smaller one, and the plan counts each step at its own size. Rank 0 prints the
    plan line and writes it to ``WORK_DIR/time_budget_plan.json``.

    Args:
        budget_s: The budget, in seconds from ``started_at``.
        started_at: ``time.time()`` at the budget's start.
        probe_steps: Steps timed before the decision (fewer when an epoch is
            shorter: the decision is made within the first epoch); with a
            ``ProgressiveBatchResize``, the whole first epoch is timed.
        warmup_steps: Of those, the first ones left out of the mean (slower:
            allocations, first kernels).
        tail_steps: What follows the last step (the final validation, the
            checkpoint, drawing), in steps.
        margin: The share of the budget kept free.
    """

    # After the optimizer step of an iteration, before ParamSchedulerHook (LOW) steps the
    # schedulers for the next one: they are moved before they compute a value past the
    # decision.
    priority = 'NORMAL'

    def __init__(
        self,
        budget_s: float,
        started_at: float,
        probe_steps: int = PROBE_STEPS,
        warmup_steps: int = PROBE_WARMUP_STEPS,
        tail_steps: float = TAIL_STEPS,
        margin: float = MARGIN,
    ) -> None:
        if budget_s <= 0 or probe_steps < 1 or warmup_steps < 0:
            raise ValueError(
                f'budget_s must be positive, probe_steps at least 1, warmup_steps at least 0; '
                f'got {budget_s}, {probe_steps}, {warmup_steps}'
            )
        self.budget_s = float(budget_s)
        self.started_at = float(started_at)
        self.probe_steps = probe_steps
        self.warmup_steps = warmup_steps
        self.tail_steps = tail_steps
        self.margin = margin
        self._train_start = 0.0
        self._last = 0.0
        self._times: List[float] = []
        self._resize: Optional[ProgressiveBatchResize] = None
        self._decide_at = 0
        self.plan: Optional[Dict] = None

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            raise TypeError(f'TimeBudgetHook fits epochs; the train loop is {type(loop).__name__}')
        if loop.iter != 0:
            raise ValueError('TimeBudgetHook plans a run from its start; it cannot resume one')
        self._resize = _progressive_resize(runner.model)
        self._decide_at = min(self.probe_steps, len(loop.dataloader))
        if self._resize is not None:
            # Both sizes timed: the full input before begin_iter, the smaller one after.
            if self._resize.begin_iter <= self.warmup_steps:
                raise ValueError(
                    f'ProgressiveBatchResize begins at step {self._resize.begin_iter}: the time '
                    f'budget needs more than {self.warmup_steps} steps at the full input first '
                    '(begin_iter)'
                )
            # The smaller input is timed to the end of epoch 0: its steps get faster over
            # the first hundred (a demo run logged 83 ms in steps 25-50, 78 in steps
            # 100-175), so 25 of them overrated the rest by 7%. A schedule that depends
            # on the epochs must then begin at epoch 1 or later (checked below).
            self._decide_at = len(loop.dataloader)
        for scheduler in self._schedulers(runner):
            if scheduler.end == loop.max_iters and scheduler.begin < self._decide_at:
                raise ValueError(
                    f'{type(scheduler).__name__} ends with the training but begins at step '
                    f'{scheduler.begin}, before the time budget decides the epochs (step '
                    f'{self._decide_at}): the run would differ from the one --epochs trains; '
                    'begin it later (e.g. a cosine from epoch 1 after a warm-up by steps)'
                )
        self._train_start = self._last = time.time()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.plan is not None:
            return
        now = time.time()
        self._times.append(now - self._last)
        self._last = now
        if runner.iter + 1 < self._decide_at:
            return
        loop = runner.train_loop
        steps = len(loop.dataloader)
        plan = [None]
        if is_main_process():
            # timed steps are steps 0, 1, ... of epoch 0: the smaller input from begin_iter
            begin = self._resize.begin_iter if self._resize is not None else len(self._times)
            full, small = self._times[:begin], self._times[begin:]
            step_s = mean_step_time(full, self.warmup_steps)
            small_step_s, small_steps = None, None
            if self._resize is not None:
                # none timed (an epoch shorter than begin_iter): as dear as a full step
                small_step_s = mean_step_time(small, self.warmup_steps) if small else step_s
                small_steps = functools.partial(self._resize.num_steps, steps_per_epoch=steps)
            made = plan_epochs(
                budget_s=self.budget_s,
                elapsed_s=self._train_start - self.started_at,
                step_s=step_s,
                steps_per_epoch=steps,
                startup_s=0.0,  # the processes are running: their start is in elapsed_s
                max_epochs=loop.max_epochs,
                tail_steps=self.tail_steps,
                margin=self.margin,
                small_step_s=small_step_s,
                small_steps=small_steps,
            )
            plan = [dict(vars(made), line=made.line(self.started_at), steps_timed=len(self._times))]
        broadcast_object_list(plan)
        self.plan = plan[0]
        self._set_epochs(runner, self.plan['epochs'])
        if is_main_process():
            self._report(runner.work_dir)

    def _report(self, work_dir: str) -> None:
        epochs, most = self.plan['epochs'], self.plan['max_epochs']
        print(self.plan['line'], flush=True)
        if epochs < most:
            print(
                f"(a slower machine than the recipe's: {epochs} of {most} epochs, a lower mAP; "
                f'--epochs {most} trains the recipe in full, --epochs {epochs} reproduces this '
                'run)',
                flush=True,
            )
        os.makedirs(work_dir, exist_ok=True)
        with open(osp.join(work_dir, PLAN_FILE), 'w') as f:
            json.dump(self.plan, f, indent=1)

    @staticmethod
    def _schedulers(runner) -> list:
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):  # one list per optimizer
            return [s for group in schedulers.values() for s in group]
        return list(schedulers)

    def _set_epochs(self, runner, epochs: int) -> None:
        """What ``tools/demo.py``'s config of ``epochs`` epochs sets, on the running loop."""
        loop = runner.train_loop
        old_epochs, old_iters = loop.max_epochs, loop.max_iters
        new_iters = epochs * len(loop.dataloader)
        for scheduler in self._schedulers(runner):
            if scheduler.end == old_iters:
                scheduler.end = new_iters
                if hasattr(scheduler, 'T_max'):  # CosineAnnealingLR
                    scheduler.T_max = new_iters - scheduler.begin
                if hasattr(scheduler, 'total_iters'):  # LinearLR, PolyLR: end - begin - 1
                    scheduler.total_iters = new_iters - scheduler.begin - 1
        loop._max_epochs, loop._max_iters = epochs, new_iters
        # what RuntimeInfoHook told the run (ProgressiveBatchResize reads it)
        runner.message_hub.update_info('max_epochs', epochs)
        runner.message_hub.update_info('max_iters', new_iters)
        if loop.val_interval == old_epochs:  # (the loop resets it from dynamic_intervals)
            loop.val_interval = epochs
            loop.dynamic_intervals = [
                epochs if i == old_epochs else i for i in loop.dynamic_intervals
            ]
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and hook.interval == old_epochs:
                hook.interval = epochs


def _progressive_resize(model) -> Optional[ProgressiveBatchResize]:
    """The ``ProgressiveBatchResize`` among the batch augments of ``model``'s data
    preprocessor, or None."""
    model = model.module if is_model_wrapper(model) else model
    augments = getattr(getattr(model, 'data_preprocessor', None), 'batch_augments', None)
    found = [a for a in augments or () if isinstance(a, ProgressiveBatchResize)]
    return found[0] if found else None
