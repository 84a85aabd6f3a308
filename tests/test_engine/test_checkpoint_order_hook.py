"""CheckpointOrderHook: mmengine's CheckpointHook deletes an old checkpoint only
after its successor is saved, and writes ``last_checkpoint`` atomically."""

import os.path as osp
import types

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.hooks import checkpoint_hook as mmengine_checkpoint_hook
from mmengine.logging import MessageHub, MMLogger
from mmengine.runner.checkpoint import save_checkpoint

from ssd_plugin.engine import CheckpointOrderHook
from ssd_plugin.fileio import atomic_local_backend


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, like SystemExit)."""


def _runner(work_dir, max_keep_ckpts=1, name='order'):
    """A runner as CheckpointHook sees it: saves ``{'iter': n}`` through the atomic backend."""
    hook = CheckpointHook(
        interval=1, by_epoch=False, max_keep_ckpts=max_keep_ckpts,
        backend_args=dict(backend='atomic_local'),
    )  # fmt: skip

    def save(self, out_dir, filename, file_client_args=None, meta=None, backend_args=None, **_):
        save_checkpoint({'meta': meta}, osp.join(out_dir, filename), backend_args=backend_args)

    runner = types.SimpleNamespace(
        work_dir=str(work_dir),
        message_hub=MessageHub.get_instance(f'{name}-{work_dir}'),
        logger=MMLogger.get_instance(f'{name}-{work_dir}'),
        hooks=[hook],
        iter=0,
        epoch=0,
    )
    runner.save_checkpoint = types.MethodType(save, runner)
    CheckpointOrderHook().before_run(runner)
    hook.before_train(runner)
    return runner, hook


def _save_iter(runner, hook, it):
    runner.iter = it - 1
    hook._save_checkpoint(runner)


def test_kill_during_save_keeps_the_previous_checkpoint_with_max_keep_1(tmp_path):
    runner, hook = _runner(tmp_path, name='keep')
    _save_iter(runner, hook, 1)
    _save_iter(runner, hook, 2)
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']  # rotation works

    def killed_save(*args, **kwargs):
        raise Killed  # the process dies while iter_3.pth is being written

    runner.save_checkpoint = killed_save
    with pytest.raises(Killed):
        _save_iter(runner, hook, 3)
    # mmengine alone deleted iter_2.pth before the save: no checkpoint was left.
    last = (tmp_path / 'last_checkpoint').read_text()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_2.pth']
    assert last == str(tmp_path / 'iter_2.pth')
    assert torch.load(last, weights_only=False)['meta']['iter'] == 2


def test_kill_while_writing_last_checkpoint_leaves_it_whole(tmp_path, monkeypatch):
    runner, hook = _runner(tmp_path, max_keep_ckpts=-1, name='last')
    _save_iter(runner, hook, 1)
    record = tmp_path / 'last_checkpoint'
    assert record.read_text() == str(tmp_path / 'iter_1.pth')

    def killed_open(path, mode='r', *args, **kwargs):  # mmengine's open('w'), killed after it
        f = open(path, mode, *args, **kwargs)
        if osp.basename(path) == 'last_checkpoint' and 'w' in mode:
            f.close()
            raise Killed
        return f

    real_replace = atomic_local_backend.os.replace

    def killed_replace(src, dst):  # the atomic write, killed before its rename
        if osp.basename(dst) == 'last_checkpoint':
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(mmengine_checkpoint_hook, 'open', killed_open, raising=False)
    monkeypatch.setattr(atomic_local_backend.os, 'replace', killed_replace)
    with pytest.raises(Killed):
        _save_iter(runner, hook, 2)
    monkeypatch.undo()
    assert record.read_text() != ''  # mmengine's open('w') left it empty
    assert record.read_text() == str(tmp_path / 'iter_1.pth')
    assert (tmp_path / 'iter_2.pth').is_file()  # saved; the record moves on at the next save


def test_rotation_and_bookkeeping_are_mmengines(tmp_path):
    runner, hook = _runner(tmp_path, max_keep_ckpts=2, name='rotate')
    for it in range(1, 6):
        _save_iter(runner, hook, it)
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_4.pth', 'iter_5.pth']
    assert runner.message_hub.get_info('keep_ckpt_ids') == [4, 5]
    assert runner.message_hub.get_info('last_ckpt') == str(tmp_path / 'iter_5.pth')
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_5.pth')
