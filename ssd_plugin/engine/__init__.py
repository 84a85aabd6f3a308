from .hooks import (
    ChannelsLastHook,
    CheckpointOrderHook,
    InvalidLossGuardHook,
    MidEpochResumeHook,
    MMDetSSDHeadCompatHook,
    RNGStateHook,
    SSDConfigCheckHook,
    patch_mmdet_ssd_head,
    to_channels_last,
)
from .optimizers import CPUAutocastOptimWrapper, cpu_has_native_bf16

__all__ = [
    'ChannelsLastHook',
    'CheckpointOrderHook',
    'CPUAutocastOptimWrapper',
    'InvalidLossGuardHook',
    'MidEpochResumeHook',
    'MMDetSSDHeadCompatHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'cpu_has_native_bf16',
    'patch_mmdet_ssd_head',
    'to_channels_last',
]
