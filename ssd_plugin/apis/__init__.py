"""The tool layer: what ``tools/*`` scripts share (as mmdet's and mmyolo's ``apis``).

Nothing here is imported by ``import ssd_plugin``; tools import these modules.
"""

from .inference import IMG_EXTENSIONS, detections, infer_images, list_images
from .time_budget_plan import TimeBudgetPlan, plan_epochs, read_step_times, steps_per_epoch

__all__ = [
    'IMG_EXTENSIONS',
    'TimeBudgetPlan',
    'detections',
    'infer_images',
    'list_images',
    'plan_epochs',
    'read_step_times',
    'steps_per_epoch',
]
