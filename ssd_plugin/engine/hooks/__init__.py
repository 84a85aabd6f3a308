from .mmdet_ssd_head_compat_hook import MMDetSSDHeadCompatHook

__all__ = ['MMDetSSDHeadCompatHook']
