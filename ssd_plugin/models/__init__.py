from .dense_heads import SSDHead
from .necks import SkipOutputConvFPN
from .task_modules import SSDAnchorGenerator, SSDMaxIoUAssigner, SSDPseudoSampler

__all__ = [
    'SSDHead',
    'SkipOutputConvFPN',
    'SSDAnchorGenerator',
    'SSDMaxIoUAssigner',
    'SSDPseudoSampler',
]
