"""Fit a training run's number of epochs to a wall-clock budget (``tools/demo.py``).

The demo promises to finish within a time budget (``make demo``: 10 minutes,
set-up included) on machines that differ by 6x. It times the first steps of
the training itself (:class:`~ssd_demo.time_budget_hook.TimeBudgetHook`),
then trains the largest number of epochs that fits, at most the recipe's, with
the schedule scaled to that length. The trained weights depend on that number
and the seed only: ``--epochs N`` reproduces a run that the budget chose.

The expected end of the demo, in seconds from the budget's start::

    elapsed + startup + epochs * steps_per_epoch * step + tail_steps * step

(with the smaller input of ``ProgressiveBatchResize`` in the first epochs,
those steps at their own measured time)

``elapsed``: spent before the first training step (set-up, the dataset,
starting the training processes); ``startup``: any start still to come (none
when the plan is made in the running training); ``tail_steps * step``: what follows
the last step (the final validation, the checkpoint, drawing the detections),
counted in steps so that it scales with the machine.
"""

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

__all__ = [
    'PROBE_STEPS',
    'PROBE_WARMUP_STEPS',
    'TAIL_STEPS',
    'TimeBudgetPlan',
    'mean_step_time',
    'plan_epochs',
    'steps_per_epoch',
]

PROBE_WARMUP_STEPS = 5  # the first steps of a process are slower (allocations, kernels)
PROBE_STEPS = 25  # training steps timed before the epochs are set, warm-up included
# What follows the last step, in steps: the final validation of 200 images, the
# checkpoint, the end of the processes, the loss curve and drawing 12 images, with
# the epochs' own overhead (the loader restarting): about 8 s, 55 steps, in the
# acceptance run of 2 x 16 images at 0.149 s a step (it planned with 80 and ended
# 4 s before its expected end); with 2 x 8 at 0.114 s a step an acceptance run
# ended 1 s before it (docs/demo.md). The demo's last line prints the expected
# and the real end.
TAIL_STEPS = 55
MARGIN = 0.05  # the share of the budget kept free for the error of the estimate


@dataclass(frozen=True)
class TimeBudgetPlan:
    """The number of epochs that fits a time budget, and the expected end.

    Attributes:
        budget_s: The budget, seconds from its start.
        elapsed_s: Spent before training, seconds from the budget's start.
        step_s: Measured seconds of one training step.
        steps_per_epoch: Training steps in one epoch.
        startup_s: Measured seconds to start and end the training processes.
        tail_s: Expected seconds after the last step.
        max_epochs: The recipe's epochs, the most the plan trains.
        epochs: The epochs planned (at least 1).
        expected_s: Expected end of the demo, seconds from the budget's start.
        small_step_s: Measured seconds of one step at the smaller input of the
            first epochs (``ProgressiveBatchResize``), or None.
        small_steps: Of the planned steps, those at the smaller input.
    """

    budget_s: float
    elapsed_s: float
    step_s: float
    steps_per_epoch: int
    startup_s: float
    tail_s: float
    max_epochs: int
    epochs: int
    expected_s: float
    small_step_s: Optional[float] = None
    small_steps: int = 0

    @property
    def fits(self) -> bool:
        """Whether the expected end is within the budget."""
        return self.expected_s <= self.budget_s

    @property
    def epoch_s(self) -> float:
        """Expected seconds of one epoch."""
        return self.steps_per_epoch * self.step_s

    def line(self, start_time: float) -> str:
        """The line printed before training.

        Args:
            start_time: ``time.time()`` at the budget's start, for the clock time of the end.
        """
        end = time.strftime('%H:%M:%S', time.localtime(start_time + self.expected_s))
        epochs = f'{self.epochs} epoch{"s" if self.epochs != 1 else ""}'
        small = (
            f' ({self.small_step_s * 1000:.0f} at the smaller input, {self.small_steps} steps)'
            if self.small_step_s is not None and self.small_steps
            else ''
        )
        text = (
            f'time budget {self.budget_s:.0f} s: measured {self.step_s * 1000:.0f} ms/step{small} '
            f'-> {epochs}, expected finish at {end} ({self.expected_s:.0f} s of '
            f'{self.budget_s:.0f}; {self.elapsed_s:.0f} s spent, {self.steps_per_epoch} '
            f'steps an epoch, {self.epoch_s:.0f} s each)'
        )
        if self.epochs < self.max_epochs:
            text += f"; the recipe's {self.max_epochs} epochs would not fit"
        if not self.fits:
            text += '; over budget even with 1 epoch'
        return text


def steps_per_epoch(num_images: int, batch_size: int, nproc: int = 1) -> int:
    """Training steps of one epoch: each of ``nproc`` processes takes ``ceil(N / nproc)``
    images (mmengine's ``DefaultSampler`` pads) in batches of ``batch_size``, the last
    one partial."""
    if num_images < 1 or batch_size < 1 or nproc < 1:
        raise ValueError(
            f'num_images, batch_size and nproc must be at least 1, got '
            f'{num_images}, {batch_size}, {nproc}'
        )
    return math.ceil(math.ceil(num_images / nproc) / batch_size)


def plan_epochs(
    budget_s: float,
    elapsed_s: float,
    step_s: float,
    steps_per_epoch: int,
    startup_s: float,
    max_epochs: int,
    tail_steps: float = TAIL_STEPS,
    margin: float = MARGIN,
    small_step_s: Optional[float] = None,
    small_steps: Optional[Callable[[int], int]] = None,
) -> TimeBudgetPlan:
    """The most epochs, up to ``max_epochs``, whose expected end leaves ``margin`` of
    ``budget_s`` free; 1 when none does (the plan then says it does not fit).

    With ``small_step_s``, ``small_steps(epochs)`` of a run's steps cost
    ``small_step_s`` each and the others ``step_s`` (``ProgressiveBatchResize``).

    Args:
        budget_s: The budget, seconds from its start.
        elapsed_s: Spent so far, seconds from the budget's start.
        step_s: Measured seconds of one training step.
        steps_per_epoch: Training steps in one epoch.
        startup_s: Measured seconds to start and end the training processes.
        max_epochs: The recipe's epochs.
        tail_steps: What follows the last step, in steps (at ``step_s``).
        margin: The share of the budget kept free.
        small_step_s: Measured seconds of one step at the smaller input, or None.
        small_steps: How many steps of a run of N epochs are at the smaller
            input (``ProgressiveBatchResize.num_steps``).
    """
    if budget_s <= 0 or step_s <= 0 or steps_per_epoch < 1 or max_epochs < 1:
        raise ValueError(
            f'budget_s and step_s must be positive, steps_per_epoch and max_epochs at least '
            f'1; got {budget_s}, {step_s}, {steps_per_epoch}, {max_epochs}'
        )
    tail_s = tail_steps * step_s
    fixed_s = elapsed_s + max(startup_s, 0.0) + tail_s

    def num_small(epochs: int) -> int:
        return small_steps(epochs) if small_step_s is not None and small_steps else 0

    def train_s(epochs: int) -> float:
        small = num_small(epochs)
        return (epochs * steps_per_epoch - small) * step_s + small * (small_step_s or 0.0)

    epochs = max_epochs  # the training time rises with the epochs: the last that fits
    while epochs > 1 and fixed_s + train_s(epochs) > budget_s * (1 - margin):
        epochs -= 1
    return TimeBudgetPlan(
        budget_s=budget_s,
        elapsed_s=elapsed_s,
        step_s=step_s,
        steps_per_epoch=steps_per_epoch,
        startup_s=max(startup_s, 0.0),
        tail_s=tail_s,
        max_epochs=max_epochs,
        epochs=epochs,
        expected_s=fixed_s + train_s(epochs),
        small_step_s=small_step_s,
        small_steps=num_small(epochs),
    )


def mean_step_time(times: Sequence[float], warmup: int = PROBE_WARMUP_STEPS) -> float:
    """Mean of ``times`` after the first ``warmup`` (all of them when there are too few)."""
    kept = times[warmup:] if len(times) > warmup else times
    return sum(kept) / len(kept)
