from .hooks import (
    ChannelsLastHook,
    CheckpointOrderHook,
    InvalidLossGuardHook,
    MidEpochResumeHook,
    RNGStateHook,
    SSDConfigCheckHook,
    to_channels_last,
)
from .optimizers import CPUAutocastOptimWrapper, cpu_has_native_bf16

__all__ = [
    'ChannelsLastHook',
    'CheckpointOrderHook',
    'CPUAutocastOptimWrapper',
    'InvalidLossGuardHook',
    'MidEpochResumeHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'cpu_has_native_bf16',
    'to_channels_last',
]
