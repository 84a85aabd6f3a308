from .channels_last_hook import ChannelsLastHook, to_channels_last
from .invalid_loss_guard_hook import InvalidLossGuardHook
from .mid_epoch_resume_hook import MidEpochResumeHook
from .rng_state_hook import RNGStateHook
from .ssd_config_check_hook import SSDConfigCheckHook

__all__ = [
    'ChannelsLastHook',
    'InvalidLossGuardHook',
    'MidEpochResumeHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'to_channels_last',
]
