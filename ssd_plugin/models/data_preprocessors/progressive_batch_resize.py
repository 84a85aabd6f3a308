"""Train the first epochs at a smaller input: a batch augment of mmdet's data preprocessor."""

from typing import List, Sequence, Tuple

import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes
from mmengine.logging import MessageHub
from torch import Tensor, nn

from ssd_plugin.registry import MODELS
from ssd_plugin.utils.strict_args import strict_init

__all__ = ['ProgressiveBatchResize']


@MODELS.register_module()
@strict_init
class ProgressiveBatchResize(nn.Module):
    """Resize training batches to ``size`` from step ``begin_iter`` until epoch ``end_epoch``.

    Progressive resizing (Tan & Le 2021, EfficientNetV2 §4; fast.ai's
    DAWNBench runs): the first epochs see the images smaller, so they cost
    less, and the objects at a scale the full input does not show; the last
    epochs train at the input the model is tested at. The images, their boxes
    and their shapes are scaled together, as mmdet's ``BatchSyncRandomResize``
    does (bilinear, on the normalised batch). The phase follows mmengine's
    ``MessageHub`` (``iter``, ``epoch`` and ``max_epochs``, set by ``RuntimeInfoHook``), so
    every process resizes the same steps. Outside training (``forward`` is
    only called with ``training=True`` by ``DetDataPreprocessor``) nothing
    changes.

    In the demo (``configs/demo/ssd_cspdarknet_synthetic_cpu.py``) a step of 2 x 8
    images at 96 of 128 px took 80 against 107 ms, and 4 + 3 epochs gave bbox
    mAP 0.500 over seeds 0-7, every seed higher than 6 epochs at 128 px (0.478)
    in about the same training time (``docs/demo.md``).

    Args:
        size: ``(h, w)`` of the batch in the small phase.
        end_epoch: The first epoch (0-based) trained at the full input; in a
            run of fewer than ``end_epoch + 1`` epochs, the last epoch (the
            first one in a run of one epoch, from ``begin_iter`` on).
        begin_iter: The first step of the small phase; the steps before it
            run at the full input (the demo's time budget times them).

    Raises:
        ValueError: A size or bound that is not positive (``begin_iter`` may be 0).
    """

    def __init__(self, size: Sequence[int], end_epoch: int, begin_iter: int = 0) -> None:
        super().__init__()
        if len(size) != 2 or min(size) < 1 or end_epoch < 1 or begin_iter < 0:
            raise ValueError(
                f'ProgressiveBatchResize: size must be (h, w) > 0, end_epoch >= 1 and '
                f'begin_iter >= 0; got size={tuple(size)}, end_epoch={end_epoch}, '
                f'begin_iter={begin_iter}'
            )
        self.size = (int(size[0]), int(size[1]))
        self.end_epoch = int(end_epoch)
        self.begin_iter = int(begin_iter)

    def end_in(self, max_epochs: int) -> int:
        """The first epoch at the full input in a run of ``max_epochs`` epochs: the last
        one trains at the full input, unless it is the only one."""
        return min(self.end_epoch, max(1, max_epochs - 1))

    def is_active(self, iter: int, epoch: int, max_epochs: int) -> bool:
        """Whether step ``iter`` (global) of epoch ``epoch`` (0-based) of a run of
        ``max_epochs`` epochs trains at ``size``."""
        return iter >= self.begin_iter and epoch < self.end_in(max_epochs)

    def num_steps(self, max_epochs: int, steps_per_epoch: int) -> int:
        """How many of the steps of a run of ``max_epochs`` epochs train at ``size``."""
        return max(0, self.end_in(max_epochs) * steps_per_epoch - self.begin_iter)

    def forward(
        self, inputs: Tensor, data_samples: List[DetDataSample]
    ) -> Tuple[Tensor, List[DetDataSample]]:
        """Resize a padded batch ``(B, C, H, W)`` and its boxes when the phase is on."""
        hub = MessageHub.get_current_instance()
        h, w = inputs.shape[-2:]
        max_epochs = hub.get_info('max_epochs')  # None outside a runner: no cap
        step = (hub.get_info('iter', 0), hub.get_info('epoch', 0))
        if not self.is_active(*step, max_epochs or self.end_epoch + 1) or (h, w) == self.size:
            return inputs, data_samples
        sy, sx = self.size[0] / h, self.size[1] / w
        inputs = F.interpolate(inputs, size=self.size, mode='bilinear', align_corners=False)
        for sample in data_samples:
            img_h, img_w = sample.img_shape
            pad_h, pad_w = sample.pad_shape
            sample.set_metainfo(
                dict(
                    img_shape=(int(img_h * sy), int(img_w * sx)),
                    pad_shape=(int(pad_h * sy), int(pad_w * sx)),
                    batch_input_shape=self.size,
                )
            )
            for key in ('gt_instances', 'ignored_instances'):
                if key in sample:
                    boxes = sample.get(key).bboxes  # (N, 4) x1, y1, x2, y2
                    if isinstance(boxes, BaseBoxes):
                        boxes.rescale_((sx, sy))
                    else:
                        boxes[..., 0::2] *= sx
                        boxes[..., 1::2] *= sy
        return inputs, data_samples

    def extra_repr(self) -> str:
        return f'size={self.size}, begin_iter={self.begin_iter}, end_epoch={self.end_epoch}'
