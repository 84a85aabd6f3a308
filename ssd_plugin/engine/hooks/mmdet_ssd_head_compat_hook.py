"""Let mmdet 3.3.0's own SSDHead predict, for baseline runs."""

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from ssd_plugin.registry import HOOKS


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
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'bbox_head', None)
        if head is not None and not hasattr(head, 'loss_cls'):
            head.loss_cls = None
            print_log(
                f'MMDetSSDHeadCompatHook: set {type(head).__module__}.SSDHead.loss_cls = None '
                '(mmdet 3.3.0 bug: SSDHead cannot predict without it)',
                logger='current',
            )
