from .hooks import (
    ChannelsLastHook,
    InvalidLossGuardHook,
    MMDetSSDHeadCompatHook,
    RNGStateHook,
    SSDConfigCheckHook,
    to_channels_last,
)

__all__ = [
    'ChannelsLastHook',
    'InvalidLossGuardHook',
    'MMDetSSDHeadCompatHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'to_channels_last',
]
