"""The demo's epochs fitted to a time budget: hand-computed plans on given timings."""

import functools
import re
import time

import pytest

from ssd_demo.time_budget_plan import (
    mean_step_time,
    plan_epochs,
    steps_per_epoch,
)
from ssd_plugin.models import ProgressiveBatchResize


def test_steps_per_epoch_pads_each_process_and_keeps_the_last_partial_batch():
    assert steps_per_epoch(10000, 32, 2) == 157  # 5000 images a process: 156 full + 1
    assert steps_per_epoch(10000, 32, 1) == 313
    assert steps_per_epoch(16, 8, 2) == 1
    assert steps_per_epoch(17, 8, 2) == 2  # 9 images in the first process
    with pytest.raises(ValueError, match='at least 1'):
        steps_per_epoch(0, 32, 2)


def test_a_slower_machine_gets_the_epochs_that_fit():
    # 1.7x the recipe's machine: 0.36 s a step, 157 steps an epoch (56.52 s), 100 s spent
    # (set-up, data, probe), 17 s to start the processes, tail 60 steps (21.6 s).
    # Free: 600 * 0.95 - 100 - 17 - 21.6 = 431.4 s = 7.63 epochs -> 7.
    plan = plan_epochs(600, 100, 0.36, 157, 17, max_epochs=12, tail_steps=60)
    assert plan.epochs == 7
    assert plan.tail_s == pytest.approx(21.6)
    assert plan.expected_s == pytest.approx(100 + 17 + 7 * 56.52 + 21.6)  # 534.24
    assert plan.fits
    start = 1_000_000.0
    clock = time.strftime('%H:%M:%S', time.localtime(start + 534.24))
    assert plan.line(start) == (
        f'time budget 600 s: measured 360 ms/step -> 7 epochs, expected finish at {clock} '
        "(534 s of 600; 100 s spent, 157 steps an epoch, 57 s each); the recipe's 12 epochs "
        'would not fit'
    )


def test_a_fast_machine_trains_the_recipe_and_no_more():
    # 0.21 s a step: 32.97 s an epoch, room for 14.5 epochs, capped at the recipe's 12.
    plan = plan_epochs(600, 70, 0.21, 157, 10, max_epochs=12, tail_steps=60)
    assert plan.epochs == 12
    assert plan.expected_s == pytest.approx(70 + 10 + 12 * 32.97 + 12.6)
    assert re.fullmatch(
        r'.* -> 12 epochs, expected finish at \d\d:\d\d:\d\d \(488 s .*each\)', plan.line(0.0)
    )


def test_the_boundary_fits_and_no_fit_trains_one_epoch_and_says_so():
    # Free: 200 - 20 - 10 - 10 = 160 s, exactly 16 epochs of 10 s.
    exact = plan_epochs(200, 20, 1.0, 10, 10, max_epochs=20, tail_steps=10, margin=0.0)
    assert exact.epochs == 16 and exact.expected_s == pytest.approx(200) and exact.fits
    over = plan_epochs(100, 90, 0.36, 157, 17, max_epochs=12, tail_steps=60)
    assert over.epochs == 1 and not over.fits
    assert over.expected_s == pytest.approx(90 + 17 + 56.52 + 21.6)
    assert over.line(0.0).endswith('over budget even with 1 epoch')
    with pytest.raises(ValueError, match='positive'):
        plan_epochs(600, 0, 0.0, 157, 10, max_epochs=12, tail_steps=60)


def test_the_mean_step_leaves_out_the_warm_up():
    times = [1.5, 0.5, 0.3]
    assert mean_step_time(times, warmup=1) == pytest.approx(0.4)
    assert mean_step_time(times, warmup=5) == pytest.approx(2.3 / 3)  # too few: all


def test_steps_at_the_smaller_input_cost_their_own_time():
    # 10 steps an epoch, steps 3 to the end of epoch 4 at 0.5 s, the others at 1 s; a
    # run of 1 epoch: 3 x 1 + 7 x 0.5 = 6.5 s; 6 epochs: 23 full steps + 37 small = 41.5 s;
    # 3 epochs: the last at the full input, 13 full steps + 17 small = 21.5 s.
    resize = ProgressiveBatchResize(size=(1, 1), begin_iter=3, end_epoch=4)
    steps = functools.partial(resize.num_steps, steps_per_epoch=10)
    small = dict(tail_steps=0, margin=0, small_step_s=0.5, small_steps=steps)
    one = plan_epochs(6.5, 0, 1.0, 10, 0, max_epochs=1, **small)
    assert one.small_steps == 7 and one.expected_s == pytest.approx(6.5)
    six = plan_epochs(42, 0, 1.0, 10, 0, max_epochs=9, **small)
    assert six.epochs == 6 and six.small_steps == 37 and six.expected_s == pytest.approx(41.5)
    three = plan_epochs(21.5, 0, 1.0, 10, 0, max_epochs=3, **small)
    assert three.small_steps == 17 and three.expected_s == pytest.approx(21.5)
