from .hooks import InvalidLossGuardHook, MMDetSSDHeadCompatHook, RNGStateHook, SSDConfigCheckHook

__all__ = ['InvalidLossGuardHook', 'MMDetSSDHeadCompatHook', 'RNGStateHook', 'SSDConfigCheckHook']
