"""Make mmengine's ``CheckpointHook`` delete an old checkpoint only after its successor is saved."""

import os.path as osp
import types

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook

from ssd_plugin.fileio import atomic_write_bytes
from ssd_plugin.registry import HOOKS


def _remove_checkpoint(hook: CheckpointHook, step: int) -> None:
    """Delete the checkpoint of ``step`` as mmengine does (a file, or deepspeed's folder)."""
    path = hook.file_backend.join_path(hook.out_dir, hook.filename_tmpl.format(step))
    if hook.file_backend.isfile(path):
        hook.file_backend.remove(path)
    elif hook.file_backend.isdir(path):
        hook.file_backend.rmtree(path)


def save_then_rotate(hook: CheckpointHook, runner, step: int, meta: dict) -> None:
    """``CheckpointHook._save_checkpoint_with_step`` (mmengine 0.10), in a safe order.

    mmengine deletes the checkpoint that falls out of ``max_keep_ckpts``
    before it saves the new one, and writes ``last_checkpoint`` with a plain
    ``open('w')``. With ``max_keep_ckpts=1`` a kill during the save leaves no
    checkpoint at all, and ``last_checkpoint`` names the deleted file; a kill
    just after ``open('w')`` leaves it empty. Here the new checkpoint is
    saved first, then ``last_checkpoint`` is written atomically (temporary
    file and rename), and only then is the old checkpoint deleted. The
    bookkeeping (``keep_ckpt_ids``, ``last_ckpt`` in the message hub, which
    the checkpoint stores) is mmengine's.
    """
    outdated = []
    if hook.max_keep_ckpts > 0 and not (hook.keep_ckpt_ids and hook.keep_ckpt_ids[-1] == step):
        if len(hook.keep_ckpt_ids) == hook.max_keep_ckpts:
            outdated.append(hook.keep_ckpt_ids.popleft())
        hook.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(hook.keep_ckpt_ids))
    filename = hook.filename_tmpl.format(step)
    hook.last_ckpt = hook.file_backend.join_path(hook.out_dir, filename)
    runner.message_hub.update_info('last_ckpt', hook.last_ckpt)
    runner.save_checkpoint(
        hook.out_dir,
        filename,
        hook.file_client_args,
        save_optimizer=hook.save_optimizer,
        save_param_scheduler=hook.save_param_scheduler,
        meta=meta,
        by_epoch=hook.by_epoch,
        backend_args=hook.backend_args,
        **hook.args,
    )
    if not is_main_process():
        return
    atomic_write_bytes(str(hook.last_ckpt).encode(), osp.join(runner.work_dir, 'last_checkpoint'))
    for old in outdated:
        _remove_checkpoint(hook, old)


@HOOKS.register_module()
class CheckpointOrderHook(Hook):
    """Never delete a checkpoint before the one that replaces it is complete.

    Put in ``custom_hooks`` next to the config's ``CheckpointHook`` (any
    ``max_keep_ckpts``, any backend). In ``before_run`` it switches every
    ``CheckpointHook`` of the runner to :func:`save_then_rotate`: the new
    checkpoint is saved, ``last_checkpoint`` is rewritten atomically to name
    it, and only then are the checkpoints beyond ``max_keep_ckpts`` deleted.
    A run killed at any instant keeps at least one complete checkpoint, which
    ``last_checkpoint`` names (``max_keep_ckpts`` plus one may exist for a
    moment). With ``backend_args=dict(backend='atomic_local')`` the checkpoint
    file itself is never seen half-written either.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                hook._save_checkpoint_with_step = types.MethodType(save_then_rotate, hook)
