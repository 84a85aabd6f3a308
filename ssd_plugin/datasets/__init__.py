from . import transforms
from .ssd_coco_dataset import SSDCocoDataset
from .synthetic_classes import SYNTHETIC_CLASSES
from .transforms import *  # noqa: F401,F403  (the transforms, listed in transforms.__all__)

__all__ = ['SSDCocoDataset', 'SYNTHETIC_CLASSES', *transforms.__all__]
