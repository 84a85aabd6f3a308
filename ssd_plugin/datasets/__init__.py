from . import transforms
from .ssd_coco_dataset import SSDCocoDataset
from .transforms import *  # noqa: F401,F403  (the transforms, listed in transforms.__all__)

__all__ = ['SSDCocoDataset', *transforms.__all__]
