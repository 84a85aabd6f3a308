"""mmdet's ``DetInferencer`` that keeps the config's own image loader.

``DetInferencer`` looks for a test-pipeline step named ``LoadImageFromFile``
and replaces it with its ``InferencerLoader``; with the plugin's
``SafeLoadImageFromFile`` it fails (``ValueError: LoadImageFromFile is not
found in the test pipeline``). :class:`SafeDetInferencer` finds either loader
and keeps it, so a missing, truncated or undecodable image is named.
"""

from typing import Any, Optional

import numpy as np
from mmdet.apis import DetInferencer
from mmengine.config import ConfigDict
from mmengine.dataset import Compose

from ssd_plugin.registry import TRANSFORMS

from .checkpoint_fit import check_weights_fit

__all__ = ['IMAGE_LOADERS', 'InferenceImageLoader', 'SafeDetInferencer']

# The test-pipeline steps that read the image file (any scope prefix).
IMAGE_LOADERS = ('LoadImageFromFile', 'SafeLoadImageFromFile')


class InferenceImageLoader:
    """First step of the inference pipeline: an image path or an array.

    A path (or ``dict(img_path=...)``) goes through the config's own loader,
    unchanged: with ``SafeLoadImageFromFile`` a missing, empty, truncated or
    undecodable file raises an error that names it. An ``(H, W, 3)`` array
    goes through mmdet's ``LoadImageFromNDArray``. This replaces mmdet's
    ``InferencerLoader``, which ``DetInferencer`` puts in place of a plain
    ``LoadImageFromFile`` only.

    Args:
        file_loader: The config's loader transform.
        array_loader: A transform taking ``dict(img=array)``.
    """

    def __init__(self, file_loader, array_loader) -> None:
        self.file_loader = file_loader
        self.array_loader = array_loader

    def __call__(self, inputs) -> dict:
        if isinstance(inputs, str):
            inputs = dict(img_path=inputs)
        elif isinstance(inputs, np.ndarray):
            inputs = dict(img=inputs)
        elif not isinstance(inputs, dict):
            raise TypeError(f'cannot load an image from a {type(inputs).__name__}')
        if 'img' in inputs:
            return self.array_loader(inputs)
        results = self.file_loader(inputs)
        if results is None:  # a loader told to skip bad files; inference cannot skip
            raise OSError(f'{inputs["img_path"]}: the image could not be loaded (see above)')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(file_loader={self.file_loader!r})'


class SafeDetInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` that keeps the config's image loader.

    ``DetInferencer`` looks for a step named ``LoadImageFromFile`` and fails
    with ``ValueError: LoadImageFromFile is not found in the test pipeline``
    for the plugin's ``SafeLoadImageFromFile``; this one finds either (with
    or without a scope prefix) and wraps it in :class:`InferenceImageLoader`.
    It also refuses a checkpoint of another model (``RunCheckError`` naming
    the missing, unexpected and reshaped weights), which mmdet's would load
    partly and run.
    """

    def _init_model(self, cfg: Any, weights: Optional[str], device: str = 'cpu'):
        self._weights_file = weights  # named by _load_weights_to_model
        return super()._init_model(cfg, weights, device)

    def _load_weights_to_model(self, model, checkpoint: Optional[dict], cfg) -> None:
        """mmdet's, after refusing a checkpoint whose weights do not fit the model
        (:func:`~ssd_plugin.apis.checkpoint_fit.check_weights_fit`)."""
        if checkpoint is not None:
            config = getattr(cfg, 'filename', None) or 'the config'
            check_weights_fit(model, checkpoint, self._weights_file, config)
        super()._load_weights_to_model(model, checkpoint, cfg)

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        steps = [dict(step) for step in cfg.test_dataloader.dataset.pipeline]
        if 'meta_keys' in steps[-1]:  # no img_id at inference (as DetInferencer)
            steps[-1]['meta_keys'] = tuple(k for k in steps[-1]['meta_keys'] if k != 'img_id')
        names = [str(step['type']).rsplit('.', 1)[-1] for step in steps]
        found = [i for i, name in enumerate(names) if name in IMAGE_LOADERS]
        if not found:
            raise ValueError(
                f'test_dataloader.dataset.pipeline has no image loader (one of {IMAGE_LOADERS}); '
                f'its steps: {names}'
            )
        file_loader = TRANSFORMS.build(steps[found[0]])
        array_loader = TRANSFORMS.build(
            dict(type='mmdet.LoadImageFromNDArray', to_float32=file_loader.to_float32)
        )
        steps[found[0]] = InferenceImageLoader(file_loader, array_loader)
        return Compose(steps)
