"""Check, before training, that the detector's head fits the data and the features."""

from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from ssd_plugin.registry import HOOKS


def leaf_datasets(dataset, path: str = '') -> Iterator[Tuple[str, object]]:
    """``(path, dataset)`` of every dataset inside wrappers.

    ``RepeatDataset``, ``ClassBalancedDataset`` and ``MultiImageMixDataset``
    wrap one ``dataset``; ``ConcatDataset`` holds ``datasets``. The path
    names the chain, e.g. ``'RepeatDataset > ConcatDataset[1] > VOCDataset'``.
    """
    name = f'{path}{type(dataset).__name__}'
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        for i, sub in enumerate(inner):
            yield from leaf_datasets(sub, f'{name}[{i}] > ')
    elif getattr(dataset, 'dataset', None) is not None:
        yield from leaf_datasets(dataset.dataset, f'{name} > ')
    else:
        yield name, dataset


def _last_conv(tower: nn.Module) -> Optional[nn.Conv2d]:
    convs = [m for m in tower.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


@HOOKS.register_module()
class SSDConfigCheckHook(Hook):
    """Stop a run before training when the head does not fit its inputs.

    Two configuration mistakes otherwise surface late or not at all:

    * ``bbox_head.num_classes`` differs from the number of classes of the
      training dataset (looked up through ``RepeatDataset``,
      ``ConcatDataset``, ``ClassBalancedDataset`` ...): labels beyond the
      head's range crash the loss, fewer labels waste outputs silently.
    * The anchor generator's levels, strides or boxes per location do not
      match the feature maps the backbone and neck produce: a dummy forward
      of ``extract_feat`` on a ``(1, 3, H, W)`` zero image (eval mode, no
      gradient) gives the maps, which are checked for their number, channels
      (``in_channels``) and sizes (``ceil(input / stride)``), and each
      level's predictor convs for ``num_base_priors * (num_classes + 1)`` and
      ``num_base_priors * 4`` outputs.

    Each check raises ``ValueError`` stating the numbers. Runs in
    ``before_train``: after the dataloaders and model are built, before the
    first iteration.

    Args:
        input_size: Network input ``(h, w)`` (or one int) of the dummy
            forward. None: the anchor generator's ``input_size``.
        check_classes: Check ``num_classes`` against the dataset.
        check_levels: Run the dummy forward and check the levels.
    """

    priority = 'VERY_HIGH'

    def __init__(
        self,
        input_size: Optional[Union[int, Sequence[int]]] = None,
        check_classes: bool = True,
        check_levels: bool = True,
    ) -> None:
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        self.input_size = tuple(input_size) if input_size is not None else None
        self.check_classes = check_classes
        self.check_levels = check_levels

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self.check_classes:
            self.check_num_classes(model, runner.train_dataloader.dataset)
        if self.check_levels:
            self.check_feature_levels(model)
        print_log(f'{type(self).__name__}: head, dataset and feature maps agree', logger='current')

    @staticmethod
    def check_num_classes(model: nn.Module, dataset) -> None:
        """``bbox_head.num_classes`` against every leaf dataset's ``classes``.

        Raises:
            ValueError: naming both numbers, the dataset chain and its classes.
        """
        head = model.bbox_head
        for path, leaf in leaf_datasets(dataset):
            classes = (getattr(leaf, 'metainfo', None) or {}).get('classes')
            if classes is None:
                continue
            if len(classes) != head.num_classes:
                ann_file = getattr(leaf, 'ann_file', '')
                raise ValueError(
                    f'model.bbox_head.num_classes is {head.num_classes} but the training '
                    f'dataset {path}{f" ({ann_file})" if ann_file else ""} has '
                    f'{len(classes)} classes {tuple(classes)}. Set '
                    f'model.bbox_head.num_classes={len(classes)}, or metainfo=dict(classes=...) '
                    'on the dataset.'
                )

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
