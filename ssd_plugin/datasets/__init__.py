from .transforms import Expand, MinIoURandomCrop, PhotoMetricDistortion

__all__ = ['Expand', 'MinIoURandomCrop', 'PhotoMetricDistortion']
