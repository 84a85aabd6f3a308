from .ssd_coco_dataset import SSDCocoDataset
from .synthetic_coco import SYNTHETIC_CLASSES, generate_synthetic_coco
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
    'generate_synthetic_coco',
]
