from .expand import Expand
from .min_iou_random_crop import MinIoURandomCrop
from .photometric_distortion import PhotoMetricDistortion
from .safe_load_image_from_file import ImageLoadError, SafeLoadImageFromFile

__all__ = [
    'Expand',
    'ImageLoadError',
    'MinIoURandomCrop',
    'PhotoMetricDistortion',
    'SafeLoadImageFromFile',
]
