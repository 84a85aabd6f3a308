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


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _age(path, seconds: float) -> None:
    past = os.stat(path).st_mtime - seconds
    os.utime(path, (past, past))


@pytest.mark.skipif(module.fcntl is None, reason='needs POSIX file locks')
def test_stale_temp_files_are_removed_and_live_writers_files_kept(tmp_path):
    import fcntl

    host = module._host_tag()
    dead, me = _dead_pid(), os.getpid()
    dead_writer = tmp_path / f'.iter_6.pth.w-{host}-{dead}.abcd1234.tmp'  # killed mid-save
    live_writer = tmp_path / f'.iter_9.pth.w-{host}-{me}.abcd1234.tmp'  # being written
    # Named after a dead process of this host (another pid namespace?), old, but locked: a
    # live writer holds it, kept.
    locked_old = tmp_path / f'.iter_3.pth.w-{host}-{dead}.abcd1234.tmp'
    other_host = tmp_path / '.iter_4.pth.w-otherhost-1.abcd1234.tmp'  # young: may be writing
    other_host_old = tmp_path / '.iter_5.pth.w-otherhost-1.abcd1234.tmp'  # old and unlocked
    legacy_old = tmp_path / '.iter_2.pth.abcd1234.tmp'  # the earlier naming
    legacy_young = tmp_path / '.iter_7.pth.abcd1234.tmp'
    unrelated = tmp_path / '.notes.abcd1234.tmp'
    for path in (dead_writer, live_writer, locked_old, other_host, other_host_old, legacy_old,
                 legacy_young, unrelated):  # fmt: skip
        path.write_bytes(b'partial')
    for path in (locked_old, other_host_old, legacy_old, unrelated):
        _age(path, 3600)
    held = [open(p, 'r+b') for p in (live_writer, locked_old)]
    for f in held:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    try:
        removed = module.remove_stale_temp_files(tmp_path)
    finally:
        for f in held:
            f.close()
    assert sorted(removed) == sorted(str(p) for p in (dead_writer, other_host_old, legacy_old))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(p.name for p in (live_writer, locked_old, other_host, legacy_young,
                                           unrelated))  # fmt: skip


def test_temp_file_names_the_writer_and_the_backend_cleans_its_directory(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(module.os, 'replace', replace)
    atomic_write_bytes(b'x', tmp_path / 'iter_1.pth')
    assert module._TMP_NAME.match(seen[0])['pid'] == str(os.getpid())
    monkeypatch.setattr(module.os, 'replace', real_replace)

    stale = tmp_path / f'.iter_2.pth.w-{module._host_tag()}-{_dead_pid()}.abcd1234.tmp'
    stale.write_bytes(b'partial')
    monkeypatch.setattr(AtomicLocalBackend, '_cleaned', set())
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    backend.put(b'y', tmp_path / 'iter_3.pth')
    assert not stale.exists() and (tmp_path / 'iter_3.pth').read_bytes() == b'y'


def test_written_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(b'x', tmp_path / 'a.pth')
        os.umask(0o027)
        atomic_write_bytes(b'x', tmp_path / 'b.pth')
    finally:
        os.umask(old)
    assert (tmp_path / 'a.pth').stat().st_mode & 0o777 == 0o644
    assert (tmp_path / 'b.pth').stat().st_mode & 0o777 == 0o640


def test_full_disk_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    target = tmp_path / 'iter_6.pth'
    atomic_write_bytes(b'good', target)

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(module.os, 'fsync', full)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_bytes(b'new bytes', target)
    assert target.read_bytes() == b'good'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_6.pth']
