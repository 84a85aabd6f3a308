from .data_preprocessors import ProgressiveBatchResize
from .dense_heads import SSDHead
from .necks import SkipOutputConvFPN
from .task_modules import SSDAnchorGenerator, SSDMaxIoUAssigner, SSDPseudoSampler

__all__ = [
    'ProgressiveBatchResize',
    'SSDHead',
    'SkipOutputConvFPN',
    'SSDAnchorGenerator',
    'SSDMaxIoUAssigner',
    'SSDPseudoSampler',
]
