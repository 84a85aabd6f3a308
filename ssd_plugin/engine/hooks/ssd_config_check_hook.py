"""Check, before training, that the SSD head's levels fit the feature maps."""

from typing import List, Optional, Sequence, Union

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from ssd_plugin.registry import HOOKS


def _last_conv(tower: nn.Module) -> Optional[nn.Conv2d]:
    convs = [m for m in tower.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


@HOOKS.register_module()
class SSDConfigCheckHook(Hook):
    """Stop a run before training when the anchor levels do not fit the features.

    The anchor generator's levels, strides or boxes per location must match
    the feature maps the backbone and neck produce, or the run fails late
    (shape errors in the loss) or trains silently wrong. A dummy forward of
    ``extract_feat`` on a ``(1, 3, H, W)`` zero image (eval mode, no
    gradient) gives the maps, which are checked for their number, channels
    (``in_channels``) and sizes (``ceil(input / stride)``), and each level's
    predictor convs for ``num_base_priors * (num_classes + 1)`` and
    ``num_base_priors * 4`` outputs.

    ``num_classes`` against the dataset's classes is mmdet's
    ``NumClassCheckHook`` (in the same ``default_runtime.py``), not checked
    again here.

    Each check raises ``ValueError`` stating the numbers. Runs in
    ``before_train``: after the dataloaders and model are built, before the
    first iteration.

    Args:
        input_size: Network input ``(h, w)`` (or one int) of the dummy
            forward. None: the anchor generator's ``input_size``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, input_size: Optional[Union[int, Sequence[int]]] = None) -> None:
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = tuple(input_size) if input_size is not None else None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.check_feature_levels(model)
        print_log(f'{type(self).__name__}: anchor levels and feature maps agree', logger='current')

    def check_feature_levels(self, model: nn.Module) -> None:
        """Levels, channels, sizes and predictor outputs against the features.

        Raises:
            ValueError: naming the numbers that disagree.
        """
        head = model.bbox_head
        generator = head.prior_generator
        input_size = self.input_size
        if input_size is None:
            size = getattr(generator, 'input_size', None)
            if size is None:
                raise ValueError(
                    f'{type(self).__name__}: {type(generator).__name__} has no input_size; '
                    'give input_size=(h, w) to the hook'
                )
            input_size = (size, size) if isinstance(size, (int, float)) else tuple(size)
        h, w = (int(v) for v in input_size)
        feats = self._dummy_features(model, h, w)
        sizes = [tuple(f.shape[-2:]) for f in feats]
        channels = [f.shape[1] for f in feats]
        if len(feats) != generator.num_levels:
            raise ValueError(
                f'The backbone and neck produce {len(feats)} feature maps (sizes {sizes} on a '
                f'{h}x{w} input) but the anchor generator has {generator.num_levels} levels '
                f'(strides {list(generator.strides)}, boxes per location '
                f'{list(generator.num_base_priors)}); give one stride and one ratio list per '
                'feature map'
            )
        in_channels = list(getattr(head, 'in_channels', channels))
        if channels != in_channels:
            raise ValueError(
                f'The feature maps have {channels} channels but bbox_head.in_channels is '
                f'{in_channels}'
            )
        if hasattr(generator, 'check_featmap_sizes'):
            generator.check_featmap_sizes(sizes, (h, w))
        self._check_predictors(head, list(generator.num_base_priors))

    @staticmethod
    def _dummy_features(model: nn.Module, h: int, w: int) -> List[torch.Tensor]:
        param = next(model.parameters())
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                feats = model.extract_feat(
                    torch.zeros(1, 3, h, w, device=param.device, dtype=param.dtype)
                )
        finally:
            model.train(was_training)
        return list(feats)

    @staticmethod
    def _check_predictors(head: nn.Module, num_base_priors: List[int]) -> None:
        towers = (
            ('cls_convs', getattr(head, 'cls_out_channels', head.num_classes + 1)),
            ('reg_convs', 4),
        )
        for name, per_prior in towers:
            modules = getattr(head, name, None)
            if modules is None:
                continue
            if len(modules) != len(num_base_priors):
                raise ValueError(
                    f'bbox_head.{name} has {len(modules)} levels but the anchor generator has '
                    f'{len(num_base_priors)}'
                )
            for level, (tower, k) in enumerate(zip(modules, num_base_priors)):
                conv = _last_conv(tower)
                if conv is not None and conv.out_channels != k * per_prior:
                    raise ValueError(
                        f'bbox_head.{name}[{level}] predicts {conv.out_channels} channels but '
                        f'the anchor generator has {k} boxes per location there, which need '
                        f'{k} x {per_prior} = {k * per_prior}'
                    )
