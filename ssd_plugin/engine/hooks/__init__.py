from .invalid_loss_guard_hook import InvalidLossGuardHook
from .mmdet_ssd_head_compat_hook import MMDetSSDHeadCompatHook
from .rng_state_hook import RNGStateHook
from .ssd_config_check_hook import SSDConfigCheckHook

__all__ = ['InvalidLossGuardHook', 'MMDetSSDHeadCompatHook', 'RNGStateHook', 'SSDConfigCheckHook']
