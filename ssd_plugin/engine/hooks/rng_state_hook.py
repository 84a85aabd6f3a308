"""Save the random number generators in checkpoints and restore them on resume."""

import logging
import random
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from ssd_plugin.registry import HOOKS

RNG_KEY = 'rng_state'


def get_rng_state() -> Dict:
    """The state of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda'][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Resume with the random generators where the checkpoint left them.

    mmengine's resume restores the model, optimizer, schedulers, iteration
    and message hub, but re-seeds the generators as at the start of the run,
    so after resuming an epoch-based run the data augmentation draws of
    epoch 1 repeat. This hook stores every rank's Python, NumPy and torch
    (and CUDA) generator states in ``checkpoint['rng_state']`` and restores
    this rank's state when training starts after a resume (``before_train``,
    after mmengine's own re-seeding).

    ``Runner.save_checkpoint`` (and so ``before_save_checkpoint``) runs on
    rank 0 only, where a collective would wait forever for the other ranks.
    The states are therefore gathered in ``after_train_epoch``, which every
    rank runs, just before ``CheckpointHook`` (priority ``LOW`` runs before
    its ``VERY_LOW``) saves the end-of-epoch checkpoint. A checkpoint saved
    elsewhere (by iteration) holds the saving rank's state only.

    With ``IterBasedTrainLoop`` nothing is restored: mmengine replays the
    dataloader up to the resumed iteration, which re-draws the data
    augmentation from the seed, and restoring first would make the replay
    draw from the wrong state. Dataloader worker processes are seeded by
    mmengine's ``worker_init_fn`` and are not covered; bit-identical resumes
    need ``num_workers=0`` (or no randomness in the workers).
    """

    priority = 'LOW'

    @staticmethod
    def _warn_mid_epoch(runner) -> None:
        """A checkpoint from inside an epoch restarts it unless MidEpochResumeHook is there."""
        from .mid_epoch_resume_hook import MidEpochResumeHook

        if any(isinstance(hook, MidEpochResumeHook) for hook in runner.hooks):
            return
        per_epoch = len(runner.train_loop.dataloader)
        if per_epoch and runner.iter != runner.epoch * per_epoch:
            print_log(
                f'RNGStateHook: the checkpoint was saved inside epoch {runner.epoch + 1} '
                f'(iteration {runner.iter}); that epoch restarts from its first batch and '
                'the batches before the checkpoint are trained again. Add '
                "dict(type='MidEpochResumeHook') to custom_hooks to continue it instead.",
                logger='current',
                level=logging.WARNING,
            )

    def __init__(self) -> None:
        self._pending: Optional[List[Dict]] = None
        self._gathered: Optional[Tuple[int, List[Dict]]] = None  # (iteration, states)

    def after_train_epoch(self, runner) -> None:
        """Gather every rank's states (all ranks run this; see the class docstring)."""
        self._gathered = (runner.iter, all_gather_object(get_rng_state()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Put the generator states into the checkpoint (one entry per rank)."""
        if self._gathered is not None and self._gathered[0] == runner.iter:
            checkpoint[RNG_KEY] = self._gathered[1]  # end of epoch: every rank's
        else:
            checkpoint[RNG_KEY] = [get_rng_state()]  # this (saving) rank's only

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the states to restore once mmengine has finished resuming."""
        states = checkpoint.get(RNG_KEY)
        if states is None:
            print_log(
                'RNGStateHook: the checkpoint holds no random generator states; the run '
                'continues from the seed',
                logger='current',
                level=logging.WARNING,
            )
        self._pending = states

    def before_train(self, runner) -> None:
        """Restore this rank's states, when resuming an epoch-based loop."""
        states, self._pending = self._pending, None
        if not states or (runner.iter == 0 and runner.epoch == 0):
            return  # nothing loaded, or ``load_from`` without resume
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            print_log(
                'RNGStateHook: IterBasedTrainLoop replays the dataloader from the seed; '
                'generator states are not restored',
                logger='current',
            )
            return
        self._warn_mid_epoch(runner)
        rank = get_rank()
        if len(states) != runner.world_size:
            print_log(
                f'RNGStateHook: the checkpoint holds generator states of {len(states)} ranks, '
                f'this run has {runner.world_size}; rank {rank} takes state '
                f'{rank % len(states)}',
                logger='current',
                level=logging.WARNING,
            )
        set_rng_state(states[rank % len(states)])
