from .synthetic_coco import SYNTHETIC_CLASSES, generate_synthetic_coco
from .transforms import Expand, MinIoURandomCrop, PhotoMetricDistortion

__all__ = [
    'Expand',
    'MinIoURandomCrop',
    'PhotoMetricDistortion',
    'SYNTHETIC_CLASSES',
    'generate_synthetic_coco',
]
