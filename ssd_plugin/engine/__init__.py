from .hooks import InvalidLossGuardHook, MMDetSSDHeadCompatHook

__all__ = ['InvalidLossGuardHook', 'MMDetSSDHeadCompatHook']
