from .metrics import FasterCocoMetric

__all__ = ['FasterCocoMetric']
