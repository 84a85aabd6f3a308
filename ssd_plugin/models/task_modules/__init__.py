from .assigners import SSDMaxIoUAssigner
from .prior_generators import SSDAnchorGenerator
from .samplers import SSDPseudoSampler

__all__ = ['SSDAnchorGenerator', 'SSDMaxIoUAssigner', 'SSDPseudoSampler']
