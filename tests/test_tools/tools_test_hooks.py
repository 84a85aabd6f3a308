"""Hooks the tool tests put into their configs (via ``custom_imports``).

* ``ToolsTestStopHook`` ends training after a given iteration, after the
  checkpoint of that iteration is written, like a killed job.
* ``ToolsTestKillMidSaveHook`` kills the process while a checkpoint is
  being written.
* ``ToolsTestDumpHook`` saves each rank's parameters and buffers, before and
  after training, to ``work_dir/state_{when}_rank{rank}.pth``.
"""

import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ssd_plugin.registry import HOOKS


@HOOKS.register_module()
class ToolsTestStopHook(Hook):
    """Exit with status 3 after iteration ``stop_at`` (1-based)."""

    priority = 'LOWEST'  # after CheckpointHook and LoggerHook

    def __init__(self, stop_at: int) -> None:
        self.stop_at = stop_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.stop_at:
            raise SystemExit(3)


@HOOKS.register_module()
class ToolsTestDumpHook(Hook):
    """Save this rank's model state before and after training."""

    priority = 'LOWEST'

    def _dump(self, runner, when: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        params = {name for name, _ in model.named_parameters()}
        torch.save(
            dict(state=state, params=sorted(params), world_size=runner.world_size),
            osp.join(runner.work_dir, f'state_{when}_rank{get_rank()}.pth'),
        )

    def before_train(self, runner) -> None:
        self._dump(runner, 'before')

    def after_train(self, runner) -> None:
        self._dump(runner, 'after')


@HOOKS.register_module()
class ToolsTestKillMidSaveHook(Hook):
    """Kill the process (``os._exit(3)``, no clean-up) while the checkpoint of
    iteration ``kill_at`` is being written: its bytes are in the temporary
    file, the rename has not happened."""

    priority = 'LOWEST'

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        if runner.iter + 1 != self.kill_at:
            return
        import os

        def killed(fd):  # the atomic backend's fsync, after the data is written
            os._exit(3)

        os.fsync = killed
