"""A local file backend whose writes are atomic (for checkpoints)."""

import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes']


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that it is complete or absent.

    The bytes go to a hidden temporary file in the same directory, which is
    flushed, ``fsync``-ed and then renamed over ``filepath`` with
    ``os.replace`` (atomic on POSIX and Windows within one file system). A
    process killed mid-write leaves the previous file (if any) untouched and
    at most a ``.{name}.*.tmp`` file, never a truncated ``filepath``.

    Args:
        data: The whole content.
        filepath: Destination; its directory is created if missing.
    """
    filepath = str(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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
    run is killed while saving. Reading, listing and removing are mmengine's.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
