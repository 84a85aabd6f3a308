from . import transforms
from .samplers import SplitEpochSampler
from .ssd_coco_dataset import SSDCocoDataset
from .transforms import *  # noqa: F401,F403  (the transforms, listed in transforms.__all__)

__all__ = ['SSDCocoDataset', 'SplitEpochSampler', *transforms.__all__]
