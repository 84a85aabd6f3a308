"""Adapting a config to the machine: CPU-only distributed runs (``gloo``
instead of ``nccl``, DDP without device ids)."""

from typing import Any, List, Optional, Sequence

from ._config_walk import cfg_section

__all__ = ['adapt_to_device']


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
    dist_cfg = cfg_section(cfg_section(cfg, 'env_cfg'), 'dist_cfg')
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
