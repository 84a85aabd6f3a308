from .cpu_autocast_optim_wrapper import CPUAutocastOptimWrapper, cpu_has_native_bf16

__all__ = ['CPUAutocastOptimWrapper', 'cpu_has_native_bf16']
