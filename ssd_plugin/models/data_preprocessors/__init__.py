from .progressive_batch_resize import ProgressiveBatchResize

__all__ = ['ProgressiveBatchResize']
