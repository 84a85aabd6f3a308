"""Stop training on a NaN or infinite loss, with a message that helps."""

import math
from typing import Optional

import torch
from mmengine.hooks import Hook

from ssd_plugin.registry import HOOKS


@HOOKS.register_module()
class InvalidLossGuardHook(Hook):
    """Raise ``FloatingPointError`` as soon as the training loss is NaN/inf.

    Raising before the checkpoint hook runs (this hook has priority
    ``'ABOVE_NORMAL'``) means no checkpoint is written from the diverged
    state: the last checkpoint on disk is the last good one, and the message
    names it. The usual causes on SSD are an lr not scaled to the batch
    (``--auto-scale-lr``), too short a warmup, and no gradient clipping.

    Args:
        interval: Check every ``interval`` iterations. Each check reads the
            loss on the host (one sync on GPU).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None
    ) -> None:
        if outputs is None or not self.every_n_train_iters(runner, self.interval):
            return
        values = {k: float(v) for k, v in outputs.items() if 'loss' in k and torch.is_tensor(v)}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if not bad:
            return
        last = self._last_checkpoint(runner)
        raise FloatingPointError(
            f'Training stopped at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
            f'invalid loss {bad} (all: {values}). No checkpoint was saved from this state; '
            f'the last good one is {last or "none yet"}. Usual fixes: scale the lr to your '
            'batch (--auto-scale-lr), a longer warmup (param_scheduler LinearLR end), gradient '
            'clipping (optim_wrapper.clip_grad=dict(max_norm=35)), and checking the annotations '
            '(zero-size boxes).'
        )

    @staticmethod
    def _last_checkpoint(runner) -> Optional[str]:
        import os.path as osp

        path = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(path):
            with open(path) as f:
                return f.read().strip() or None
        return None
