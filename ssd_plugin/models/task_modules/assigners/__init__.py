from .ssd_max_iou_assigner import SSDMaxIoUAssigner

__all__ = ['SSDMaxIoUAssigner']
