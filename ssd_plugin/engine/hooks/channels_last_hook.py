"""Run the detector in the channels_last (NHWC) memory format."""

from typing import Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from ssd_plugin.registry import HOOKS

__all__ = ['ChannelsLastHook', 'to_channels_last']


def _inputs_to_channels_last(module: nn.Module, args: Tuple) -> Tuple:
    """Forward pre-hook: the batch tensor ``(N, C, H, W)`` goes in as NHWC."""
    if args and isinstance(args[0], Tensor) and args[0].dim() == 4:
        return (args[0].contiguous(memory_format=torch.channels_last),) + tuple(args[1:])
    return args


def to_channels_last(model: nn.Module) -> nn.Module:
    """Put the weights of ``model`` and the images given to its backbone in NHWC.

    Convolutions with cuDNN (tensor cores, fp16/bf16) and oneDNN are usually
    faster in channels_last. Values are unchanged: only the memory layout of
    4-d tensors differs. Works for any detector with a ``backbone``; without
    one, only the weights are converted.

    Args:
        model: The detector (not wrapped).

    Returns:
        ``model``, converted in place.
    """
    model.to(memory_format=torch.channels_last)
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, nn.Module) and not getattr(backbone, '_ssd_channels_last', False):
        backbone.register_forward_pre_hook(_inputs_to_channels_last)
        backbone._ssd_channels_last = True
    return model


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model to channels_last before the run (``custom_hooks``).

    Add ``dict(type='ChannelsLastHook')`` to ``custom_hooks``, or pass
    ``--channels-last`` to ``tools/train.py`` / ``tools/test.py``. It runs
    before the optimizer sees a step, so the optimizer state follows the
    converted parameters (the same tensors, relaid in place).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        to_channels_last(model)
        print_log('ChannelsLastHook: model and backbone inputs in channels_last', logger='current')
