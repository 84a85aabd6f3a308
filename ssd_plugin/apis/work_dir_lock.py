"""One training run per work directory.

Two runs in one ``--work-dir`` write checkpoints of the same names, rotate
each other's away and point ``last_checkpoint`` at each other's files, and
both exit 0. :func:`hold_work_dir` takes an exclusive ``flock`` on
``WORK_DIR/.train.lock`` for the length of the run (the kernel releases it when
the process ends, also on ``kill -9``) and refuses a directory whose lock a
live run holds, naming that run's pid and host. On a shared file system the
lock holds across hosts (NFS emulates ``flock`` with ``fcntl`` locks).
"""

import contextlib
import datetime
import os
import os.path as osp
import socket
from typing import Iterator

from .run_check_error import RunCheckError

try:
    import fcntl
except ImportError:  # Windows: no lock, as before
    fcntl = None

__all__ = ['LOCK_NAME', 'hold_work_dir']

LOCK_NAME = '.train.lock'


def _global_rank() -> int:
    """This process's rank as the launchers set it before any process group exists."""
    for var in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 0


@contextlib.contextmanager
def hold_work_dir(work_dir: str) -> Iterator[None]:
    """Hold ``work_dir`` for this run (rank 0 only) until the block ends.

    Raises:
        RunCheckError: when another live process holds it; the message names
            its pid, host and start time, and the ways out.
    """
    if fcntl is None or _global_rank() != 0:
        yield
        return
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    with open(path, 'a+') as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'a process that has not written its name yet'
            raise RunCheckError(
                f'Work directory {work_dir} is in use by another training run: {holder} '
                f'(it holds {path}). Two runs in one directory overwrite and delete each '
                "other's checkpoints. Give this run its own --work-dir, or stop that run "
                'first (--resume then continues it).'
            ) from None
        except OSError:  # a file system without locks
            yield
            return
        f.seek(0)
        f.truncate()
        started = datetime.datetime.now().isoformat(timespec='seconds')
        f.write(f'pid {os.getpid()} on host {socket.gethostname()}, started {started}\n')
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
