from .invalid_loss_guard_hook import InvalidLossGuardHook
from .mmdet_ssd_head_compat_hook import MMDetSSDHeadCompatHook

__all__ = ['InvalidLossGuardHook', 'MMDetSSDHeadCompatHook']
