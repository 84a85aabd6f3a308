"""Whether a checkpoint's weights fit a model, for every tool that loads weights.

mmengine's ``load_checkpoint`` is not strict: a checkpoint of another model
(other neck channels, another number of classes) loads partly, with "size
mismatch" lines in the log, and ``tools/test.py`` or ``tools/infer.py`` then
report metrics and detections of a partly random model with exit status 0.
:func:`check_weights_fit` refuses it, naming the missing, unexpected and
reshaped weights; ``tools/test.py``, ``tools/infer.py`` and
``tools/export_onnx.py`` call it before running the model.
"""

import re
from typing import Any, Dict, List

import torch

from .run_check_error import RunCheckError

__all__ = ['check_checkpoint_file_fits', 'check_weights_fit', 'checkpoint_state_dict']


def _listing(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def checkpoint_state_dict(ckpt: Any, checkpoint: str) -> Dict[str, Any]:
    """The weights of a loaded checkpoint, without the ``module.`` prefix of DDP.

    Raises:
        RunCheckError: when it holds none.
    """
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise RunCheckError(f'Checkpoint {checkpoint} holds no state_dict')
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def check_weights_fit(model: torch.nn.Module, ckpt: Any, checkpoint: str, config: str) -> None:
    """Raise unless the loaded checkpoint ``ckpt`` has exactly the weights of ``model``.

    Args:
        model: The model the config builds (unwrapped).
        ckpt: The loaded checkpoint (a dict with ``state_dict``, or the state dict).
        checkpoint: Its file, named in the message.
        config: The config file, named in the message.

    Raises:
        RunCheckError: naming the missing, unexpected and reshaped weights.
    """
    state = checkpoint_state_dict(ckpt, checkpoint)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [
        f'{k} {tuple(state[k].shape)} (model: {tuple(own[k].shape)})'
        for k in own
        if k in state and tuple(getattr(state[k], 'shape', ())) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    lines = [
        f'Checkpoint {checkpoint} does not fit the model of config {config} '
        f'({len(own)} weights); it was saved from another model or config:'
    ]
    if missing:
        lines.append(f'  {len(missing)} missing in the checkpoint: {_listing(missing)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} unexpected: {_listing(unexpected)}')
    if reshaped:
        lines.append(f'  {len(reshaped)} of another shape: {_listing(reshaped, 4)}')
    lines.append('Use the config the checkpoint was trained with.')
    raise RunCheckError('\n'.join(lines))


def check_checkpoint_file_fits(model: torch.nn.Module, checkpoint: str, config: str) -> None:
    """Load ``checkpoint`` (on CPU) and :func:`check_weights_fit` it to ``model``
    (a model wrapper is unwrapped).

    Raises:
        RunCheckError: when it does not fit.
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint

    model = model.module if is_model_wrapper(model) else model
    check_weights_fit(model, _load_checkpoint(checkpoint, map_location='cpu'), checkpoint, config)
