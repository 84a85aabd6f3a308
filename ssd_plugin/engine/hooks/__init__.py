from .channels_last_hook import ChannelsLastHook, to_channels_last
from .checkpoint_order_hook import CheckpointOrderHook
from .invalid_loss_guard_hook import InvalidLossGuardHook
from .mid_epoch_resume_hook import MidEpochResumeHook
from .rng_state_hook import RNGStateHook
from .ssd_config_check_hook import SSDConfigCheckHook

__all__ = [
    'ChannelsLastHook',
    'CheckpointOrderHook',
    'InvalidLossGuardHook',
    'MidEpochResumeHook',
    'RNGStateHook',
    'SSDConfigCheckHook',
    'to_channels_last',
]
