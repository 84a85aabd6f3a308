"""AtomicLocalBackend: a write killed midway leaves the old file intact and no
partial file at the target; CheckpointHook saves through it."""

import os

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint

from ssd_plugin.fileio import AtomicLocalBackend, atomic_write_bytes
from ssd_plugin.fileio import atomic_local_backend as module


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, like SystemExit)."""


def test_selected_by_backend_args(tmp_path):
    backend = get_file_backend(str(tmp_path / 'x.pth'), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put_text('hello', tmp_path / 'sub' / 'a.txt')
    assert (tmp_path / 'sub' / 'a.txt').read_text() == 'hello'


def test_kill_during_write_keeps_previous_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / 'epoch_2.pth'
    save_checkpoint({'step': 1}, str(target), backend_args=dict(backend='atomic_local'))
    good = target.read_bytes()

    real_fsync = os.fsync

    def killed_after_half(fd):  # the data is half written when the "kill" comes
        os.ftruncate(fd, len(good) // 2)
        raise Killed

    monkeypatch.setattr(module.os, 'fsync', killed_after_half)
    with pytest.raises(Killed):
        save_checkpoint({'step': 2}, str(target), backend_args=dict(backend='atomic_local'))
    monkeypatch.setattr(module.os, 'fsync', real_fsync)
    assert target.read_bytes() == good
    assert torch.load(str(target), weights_only=False) == {'step': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_2.pth']  # temp file removed

    # A first save killed midway leaves no file at all at the target.
    fresh = tmp_path / 'epoch_3.pth'
    monkeypatch.setattr(module.os, 'replace', lambda *_: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        atomic_write_bytes(b'x' * 100, fresh)
    assert not fresh.exists()
