from .hooks import (
    ChannelsLastHook,
    InvalidLossGuardHook,
    MidEpochResumeHook,
    RNGStateHook,
    SSDConfigCheckHook,
    to_channels_last,
)
from .optimizers import CPUAutocastOptimWrapper, cpu_has_native_bf16

__all__ = [
    'ChannelsLastHook',
    'CPUAutocastOptimWrapper',
    'InvalidLossGuardHook',
    'MidEpochResumeHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'cpu_has_native_bf16',
    'to_channels_last',
]
