"""Let mmdet 3.3.0's own SSDHead predict, for baseline runs."""

from typing import Optional

import torch.nn as nn
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ssd_plugin.registry import HOOKS


def patch_mmdet_ssd_head(model: nn.Module) -> Optional[str]:
    """Set ``bbox_head.loss_cls = None`` where the head lacks the attribute.

    For runs outside a Runner's hooks, such as ``tools/infer.py``'s
    ``DetInferencer``, which would otherwise fail on mmdet 3.3.0's
    ``SSDHead``.

    Args:
        model: The detector, a model wrapper around it, or the head itself.

    Returns:
        A line saying what was changed, or None when nothing was.
    """
    model = model.module if is_model_wrapper(model) else model
    head = getattr(model, 'bbox_head', None)
    if head is None and isinstance(model, BaseDenseHead):
        head = model
    if head is None or hasattr(head, 'loss_cls'):
        return None
    head.loss_cls = None
    return (
        f'set {type(head).__module__}.{type(head).__name__}.loss_cls = None '
        '(mmdet 3.3.0 bug: SSDHead cannot predict without it)'
    )


@HOOKS.register_module()
class MMDetSSDHeadCompatHook(Hook):
    """Give mmdet's ``SSDHead`` the ``loss_cls`` attribute it lacks.

    mmdet 3.3.0's ``BaseDenseHead._predict_by_feat_single`` reads
    ``self.loss_cls``, which ``SSDHead`` never sets, so its prediction (also
    validation during training) raises ``AttributeError``. This hook sets
    ``loss_cls = None`` (what the attribute is read for, a custom activation,
    is then skipped) before the run, and changes nothing else. The plugin's
    own ``SSDHead`` does not need it.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        note = patch_mmdet_ssd_head(runner.model)
        if note:
            print_log(f'MMDetSSDHeadCompatHook: {note}', logger='current')
