from .ssd_coco_dataset import SSDCocoDataset
from .synthetic_classes import SYNTHETIC_CLASSES
from .transforms import (
    Expand,
    ImageLoadError,
    MinIoURandomCrop,
    PhotoMetricDistortion,
    SafeLoadImageFromFile,
)

__all__ = [
    'Expand',
    'ImageLoadError',
    'MinIoURandomCrop',
    'PhotoMetricDistortion',
    'SafeLoadImageFromFile',
    'SSDCocoDataset',
    'SYNTHETIC_CLASSES',
]
