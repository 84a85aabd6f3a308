from .dense_heads import SSDHead
from .task_modules import SSDAnchorGenerator, SSDMaxIoUAssigner, SSDPseudoSampler

__all__ = ['SSDHead', 'SSDAnchorGenerator', 'SSDMaxIoUAssigner', 'SSDPseudoSampler']
