from .expand import Expand
from .min_iou_random_crop import MinIoURandomCrop
from .photometric_distortion import PhotoMetricDistortion

__all__ = ['Expand', 'MinIoURandomCrop', 'PhotoMetricDistortion']
