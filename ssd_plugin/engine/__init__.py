from .hooks import MMDetSSDHeadCompatHook

__all__ = ['MMDetSSDHeadCompatHook']
