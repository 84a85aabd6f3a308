"""``--amp``: mixed precision on a GPU (float16) or a CPU with native bfloat16."""

from typing import Any, Optional

from ._config_walk import cfg_section
from .run_check_error import RunCheckError

__all__ = ['enable_amp']


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
    optim_wrapper = cfg_section(cfg, 'optim_wrapper')
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
