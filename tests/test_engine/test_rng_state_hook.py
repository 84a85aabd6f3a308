"""RNGStateHook: generator states into the checkpoint, and back on an epoch-based resume."""

import random
from types import SimpleNamespace

import numpy as np
import torch
from log_test_utils import mmlogger_messages
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from ssd_plugin.engine import RNGStateHook
from ssd_plugin.engine.hooks.rng_state_hook import RNG_KEY, get_rng_state, set_rng_state


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def _seed(n):
    random.seed(n)
    np.random.seed(n)
    torch.manual_seed(n)


def _runner(loop_cls, it=6, epoch=1, per_epoch=4, hooks=()):
    loop = object.__new__(loop_cls)  # only its type and dataloader are read
    loop.dataloader = [None] * per_epoch
    return SimpleNamespace(iter=it, epoch=epoch, train_loop=loop, world_size=1, hooks=list(hooks))


def test_get_and_set_rng_state_round_trip():
    state = get_rng_state()
    first = _draws()
    set_rng_state(state)
    assert _draws() == first


def test_checkpoint_holds_the_states_and_resume_restores_them():
    hook = RNGStateHook()
    runner = _runner(EpochBasedTrainLoop, it=8, epoch=2)
    _seed(3)
    hook.after_train_epoch(runner)  # gathered at the end of the epoch (1 rank here)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    expected = _draws()  # what the uninterrupted run draws next
    assert len(checkpoint[RNG_KEY]) == 1 and set(checkpoint[RNG_KEY][0]) >= {'python', 'numpy'}

    _seed(99)  # a fresh process, seeded again by mmengine
    resumed = RNGStateHook()
    resumed.after_load_checkpoint(runner, checkpoint)
    resumed.before_train(runner)
    assert _draws() == expected

    _seed(99)  # iteration-based: mmengine replays from the seed, left alone
    reference = _draws()
    _seed(99)
    iter_based = RNGStateHook()
    iter_based.after_load_checkpoint(runner, checkpoint)
    iter_based.before_train(_runner(IterBasedTrainLoop, it=8, epoch=0))
    assert _draws() == reference


def test_not_restored_without_resume_and_mid_epoch_checkpoint_warns():
    hook = RNGStateHook()
    checkpoint = {RNG_KEY: [get_rng_state()]}
    _seed(5)
    reference = _draws()
    _seed(5)
    hook.after_load_checkpoint(None, checkpoint)
    hook.before_train(_runner(EpochBasedTrainLoop, it=0, epoch=0))  # load_from: not a resume
    assert _draws() == reference

    with mmlogger_messages() as messages:
        hook.after_load_checkpoint(None, checkpoint)
        hook.before_train(_runner(EpochBasedTrainLoop, it=6, epoch=1, per_epoch=4))
    assert any('inside epoch 2' in m and 'MidEpochResumeHook' in m for m in messages), messages
