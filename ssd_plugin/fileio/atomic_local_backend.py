"""A local file backend whose writes are atomic (for checkpoints).

Each write goes to a hidden temporary file ``.{name}.w-{host}-{pid}.{random}.tmp``
beside its target, then is renamed over it. A process killed mid-write leaves
that file behind; :func:`remove_stale_temp_files` removes such leftovers, and
only those whose writer is gone (see its docstring for the rule).
"""

import logging
import os
import os.path as osp
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Set, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log

try:  # POSIX: a live writer holds an exclusive lock on its temporary file
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes', 'remove_stale_temp_files']

#: Temporary files younger than this are kept even when unlocked: a writer
#: takes its lock just after creating the file.
MIN_STALE_AGE_S = 60.0

# .{name}.w-{host}-{pid}.{mkstemp's 8 chars}.tmp ; the format before writers were named,
# .{name}.{8 chars}.tmp, is recognised for checkpoints and last_checkpoint only.
_TMP_NAME = re.compile(r'^\.(?P<name>.+?)\.w-(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.\w{8}\.tmp$')
_LEGACY_TMP_NAME = re.compile(r'^\.(?P<name>.+\.pth|last_checkpoint)\.\w{8}\.tmp$')


def _host_tag() -> str:
    return re.sub(r'[^A-Za-z0-9_-]', '-', socket.gethostname()) or 'host'


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (True when it cannot be told)."""
    if os.name != 'posix':
        return True  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return mask


def _lock_exclusive(fd: int) -> None:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without locks: the age rule still applies


def _locked_by_someone(path: str) -> Optional[bool]:
    """Whether a process holds a lock on ``path``; None where locks are unavailable."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR)  # NFS emulates flock with fcntl locks: needs write
    except OSError:
        return True  # gone, or not ours to touch
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # releases the lock, if taken
    return False


def remove_stale_temp_files(
    directory: Union[str, Path], min_age_s: float = MIN_STALE_AGE_S
) -> List[str]:
    """Remove the temporary files that interrupted atomic writes left in ``directory``.

    A temporary file is removed only when its writer is certainly gone:

    * no process holds the exclusive ``flock`` every writer keeps on its file
      until the rename (released by the kernel when a process dies, also a
      killed one; checked with a non-blocking lock attempt), and
    * its writer, named in the file name, is a process of this host that no
      longer exists, or the file has not been modified for ``min_age_s``
      (the lock is taken right after the file is created; the age covers
      that instant).

    Where file locks are unavailable (Windows, some file systems), only the
    first case of the second rule applies: the file of a dead writer of
    this host. Files of the earlier naming (no writer in the name) need the
    age. Other hidden ``.tmp`` files are not touched.

    Returns:
        The paths removed.
    """
    directory = str(directory)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    host, now, removed = _host_tag(), time.time(), []
    for name in names:
        match = _TMP_NAME.match(name)
        if match is None and _LEGACY_TMP_NAME.match(name) is None:
            continue
        path = osp.join(directory, name)
        try:
            age = now - os.stat(path).st_mtime
        except OSError:
            continue
        writer_dead = (
            match is not None
            and match['host'] == host
            and int(match['pid']) != os.getpid()
            and not _pid_alive(int(match['pid']))
        )
        locked = _locked_by_someone(path)
        if locked is None:
            stale = writer_dead
        else:
            stale = not locked and (writer_dead or age >= min_age_s)
        if not stale:
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that it is complete or absent.

    The bytes go to a hidden temporary file in the same directory, named
    after this host and process and locked (``flock``) until the end, which
    is flushed, ``fsync``-ed and then renamed over ``filepath`` with
    ``os.replace`` (atomic on POSIX and Windows within one file system). The
    file gets the mode ``open()`` would give it (``0666`` less the umask). A
    process killed mid-write leaves the previous file (if any) untouched and
    at most a ``.{name}.w-{host}-{pid}.*.tmp`` file, never a truncated
    ``filepath``; :func:`remove_stale_temp_files` removes it later.

    Args:
        data: The whole content.
        filepath: Destination; its directory is created if missing.
    """
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    prefix = f'.{osp.basename(filepath)}.w-{_host_tag()}-{os.getpid()}.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            _lock_exclusive(f.fileno())
            if hasattr(os, 'fchmod'):  # mkstemp's 0600 -> the umask's mode, as open() gives
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if os.name == 'posix':  # rename while still locked
                os.replace(tmp, filepath)
        if os.name != 'posix':  # Windows cannot rename an open file
            os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable (POSIX); not available everywhere
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` with atomic ``put`` and ``put_text``.

    Selected by name: ``backend_args=dict(backend='atomic_local')``, e.g. in
    ``default_hooks.checkpoint`` so that ``CheckpointHook`` never leaves a
    truncated checkpoint (which ``--resume`` would then try to load) when a
    run is killed while saving. The first write of a process into a directory
    removes the temporary files that killed writers left there
    (:func:`remove_stale_temp_files`). Reading, listing and removing are
    mmengine's.
    """

    _cleaned: Set[str] = set()  # directories cleaned by this process

    def _clean_once(self, filepath: Union[str, Path]) -> None:
        directory = osp.dirname(osp.abspath(str(filepath)))
        if directory in AtomicLocalBackend._cleaned:
            return
        AtomicLocalBackend._cleaned.add(directory)
        for path in remove_stale_temp_files(directory):
            print_log(
                f'AtomicLocalBackend: removed {path}, left by an interrupted write',
                logger='current',
                level=logging.WARNING,
            )

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically (see :func:`atomic_write_bytes`)."""
        self._clean_once(filepath)
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text atomically (see :func:`atomic_write_bytes`)."""
        self._clean_once(filepath)
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
