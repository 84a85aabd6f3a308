"""Joining the process group of a CPU-only ``torchrun`` launch (mmengine's
``init_dist`` needs CUDA), and leaving it before the process exits."""

import os
import signal
import threading
import time
from typing import Any, Optional

from .run_check_error import RunCheckError

__all__ = ['destroy_distributed', 'exit_with_launcher', 'init_cpu_distributed']


def exit_with_launcher(poll_s: float = 2.0) -> None:
    """End this worker (SIGTERM to itself) when the process that started it dies.

    A ``torchrun`` launcher killed with ``kill -9`` cannot stop its workers,
    which would go on training as orphans (parent pid 1) until the end. A
    daemon thread checks every ``poll_s`` whether the parent pid changed
    (the kernel re-parents an orphan). A thread rather than
    ``PR_SET_PDEATHSIG``: that signal fires when the parent's *thread* that
    forked ends, which need not be the launcher's end. The watch starts
    when the tool does (``run_tool``), after its imports: a launcher killed
    in those first seconds is not seen. POSIX only.
    """
    if os.name != 'posix':
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        print(
            f'[pid {os.getpid()}] the launcher (pid {parent}) is gone: stopping this worker',
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name='exit-with-launcher', daemon=True).start()


def init_cpu_distributed(cfg: Any, launcher: str, cuda: Optional[bool] = None) -> Optional[str]:
    """Join the process group of a CPU-only ``pytorch``-launched run.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` first,
    which a CPU-only torch build does not have. Where CUDA is absent this
    joins the group from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) with the config's backend; the Runner
    sees an initialised group, skips its own ``init_dist`` and does the rest
    (DDP wrapping, distributed samplers, rank-0 checkpoints) as usual.

    Args:
        cfg: The config (after :func:`adapt_to_device`).
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cuda: Whether CUDA is usable; detected when None.

    Returns:
        A log line if the group was joined here, else None.

    Raises:
        RunCheckError: for the ``slurm``/``mpi`` launchers without CUDA.
    """
    import torch

    if cuda is None:
        cuda = torch.cuda.is_available()
    if cuda or launcher == 'none':
        return None
    if launcher != 'pytorch':
        raise RunCheckError(
            f"--launcher {launcher} needs CUDA: mmengine's {launcher} launcher calls "
            'torch.cuda.set_device. On CPU-only machines start tools/dist_train.sh on each node '
            '(NNODES, NODE_RANK, MASTER_ADDR and PORT set), which uses --launcher pytorch.'
        )
    import datetime

    import torch.distributed as dist

    if dist.is_initialized():
        return None
    dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if isinstance(dist_cfg.get('timeout'), (int, float)):
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    dist.init_process_group(backend=backend, **dist_cfg)
    return (
        f'CUDA is not available: joined the {backend!r} process group as rank '
        f'{dist.get_rank()} of {dist.get_world_size()}'
    )


def destroy_distributed() -> bool:
    """Leave the process group at the end of a successful run, before the interpreter exits.

    Neither mmengine's Runner nor torch destroys the group at exit. Left to
    interpreter finalization, ``ProcessGroupGloo`` is torn down with its worker
    threads still joinable, or still holding finished work with tensors whose
    release needs the GIL; either ends the process in ``std::terminate``
    ("terminate called without an active exception", SIGABRT) now and then, after
    the run itself succeeded (pytorch/pytorch#65513, #190489). A barrier first,
    so that no rank tears down while another still communicates. Call it only
    after a run that succeeded on every rank: after an error the other ranks may
    never reach the barrier (torchrun ends them).

    Returns:
        Whether a group was destroyed.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True
