"""Adapting a run to the machine: ``--amp`` (mixed precision on a GPU, or a CPU
with native bfloat16), and CPU-only distributed runs (``gloo`` instead of
``nccl``, DDP without device ids, joining the process group of a ``torchrun``
launch, as mmengine's ``init_dist`` needs CUDA, and leaving it before the
process exits)."""

import os
import signal
import threading
import time
from typing import Any, List, Optional, Sequence

from .run_check_error import RunCheckError

__all__ = [
    'adapt_to_device',
    'destroy_distributed',
    'enable_amp',
    'exit_with_launcher',
    'init_cpu_distributed',
]


def _section(cfg: Any, key: str) -> Any:
    """``cfg[key]``, created empty if missing (``ConfigDict.setdefault`` returns a copy)."""
    if cfg.get(key) is None:
        cfg[key] = {}
    return cfg[key]


def enable_amp(
    cfg: Any, accelerator: Optional[bool] = None, cpu_bf16: Optional[bool] = None
) -> str:
    """Switch the optimizer wrapper to mixed precision (``--amp``).

    On a GPU (CUDA/NPU/MLU/MUSA): mmengine's ``AmpOptimWrapper``, float16 with
    dynamic loss scaling. On a CPU with native bfloat16 (AVX512-BF16 or AMX):
    the plugin's ``CPUAutocastOptimWrapper``, bfloat16 autocast without loss
    scaling (mmengine's wrapper asserts a GPU).

    Args:
        cfg: The config, changed in place.
        accelerator: Whether a CUDA/NPU/MLU/MUSA device is usable; detected
            when None.
        cpu_bf16: Whether the CPU runs bfloat16 natively; detected when None.

    Returns:
        A log line.

    Raises:
        RunCheckError: on a CPU without native bfloat16, where autocast
            would emulate it and train slower than float32.
    """
    if accelerator is None:
        from mmengine.device import get_device

        accelerator = get_device() != 'cpu'
    optim_wrapper = _section(cfg, 'optim_wrapper')
    if accelerator:
        optim_wrapper['type'] = 'AmpOptimWrapper'
        optim_wrapper['loss_scale'] = 'dynamic'
        return 'AMP enabled: optim_wrapper.type=AmpOptimWrapper, loss_scale=dynamic'
    if cpu_bf16 is None:
        from ssd_plugin.engine import cpu_has_native_bf16

        cpu_bf16 = cpu_has_native_bf16()
    if not cpu_bf16:
        raise RunCheckError(
            '--amp on CPU needs native bfloat16 (AVX512-BF16 or AMX), which this CPU lacks: '
            'emulated, autocast trains slower than float32, and float16 needs a GPU '
            "(mmengine's AmpOptimWrapper asserts one). Run without --amp (float32)."
        )
    optim_wrapper['type'] = 'CPUAutocastOptimWrapper'
    optim_wrapper['dtype'] = 'bfloat16'
    optim_wrapper.pop('loss_scale', None)
    return 'AMP enabled on CPU: optim_wrapper.type=CPUAutocastOptimWrapper, dtype=bfloat16'


def adapt_to_device(
    cfg: Any, launcher: str, explicit_keys: Sequence[str] = (), cuda: Optional[bool] = None
) -> List[str]:
    """Make a config runnable where CUDA is not available.

    Without CUDA, a distributed run cannot use NCCL, and DDP must not be
    given CUDA device ids. Settings the user gave on the command line are kept.

    Args:
        cfg: The config, changed in place.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        explicit_keys: The ``--cfg-options`` keys the user set.
        cuda: Whether CUDA is usable; detected when None.

    Returns:
        One log line per change made.
    """
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if cuda or launcher == 'none':
        return []
    notes = []
    dist_cfg = _section(_section(cfg, 'env_cfg'), 'dist_cfg')
    if not any(k.startswith('env_cfg.dist_cfg') for k in explicit_keys):
        if dist_cfg.get('backend', 'nccl') == 'nccl':
            dist_cfg['backend'] = 'gloo'
            notes.append(
                "CUDA is not available: using the 'gloo' backend instead of 'nccl' for this "
                'distributed run (set --cfg-options env_cfg.dist_cfg.backend=... to override)'
            )
    if not any(k.startswith('model_wrapper_cfg') for k in explicit_keys):
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
        is_ddp = str(wrapper.get('type', '')).endswith('MMDistributedDataParallel')
        if is_ddp and 'device_ids' not in wrapper:
            wrapper['device_ids'] = None
            cfg['model_wrapper_cfg'] = wrapper
            notes.append(
                'CUDA is not available: DistributedDataParallel runs on CPU '
                '(model_wrapper_cfg.device_ids=None)'
            )
    return notes


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
