"""An exported SSD (``tools/export_onnx.py``) run by ONNX Runtime as an mmengine
model: ``tools/test.py --backend onnxruntime`` evaluates it with the config's own
test loop and evaluator, ``tools/infer.py --backend onnxruntime`` draws it.

:class:`OnnxRuntimeDetector` takes the place of ``cfg.model``: the config's data
preprocessor prepares the batch as for PyTorch, the session computes the
detections (post-processing and NMS are in the graph), and they are returned as
``DetDataSample.pred_instances`` in original-image pixels, as
``model.predict(..., rescale=True)`` returns them.
"""

import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from ssd_plugin.registry import MODELS

from .onnx_export import pipeline_input_size
from .run_check_error import RunCheckError

__all__ = ['OnnxRuntimeDetector', 'onnx_metadata', 'use_onnx_model']


def onnx_metadata(onnx_file: str) -> Dict:
    """The metadata ``tools/export_onnx.py`` wrote into ``onnx_file`` (JSON values).

    Raises:
        RunCheckError: when the file is missing, is no ONNX model, or lacks
            ``input_size`` (not written by ``tools/export_onnx.py``).
    """
    if not osp.isfile(onnx_file):
        raise RunCheckError(
            f'ONNX file not found: {onnx_file} (resolved: {osp.abspath(onnx_file)})'
        )
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    except Exception as err:  # onnxruntime raises its own exception types
        raise RunCheckError(f'{onnx_file} is not a loadable ONNX model: {err}') from err
    props = session.get_modelmeta().custom_metadata_map
    if 'input_size' not in props:
        raise RunCheckError(
            f'{onnx_file} has no input_size in its metadata: export it with tools/export_onnx.py'
        )
    return {key: json.loads(value) for key, value in props.items()}


@MODELS.register_module()
class OnnxRuntimeDetector(BaseModel):
    """An exported SSD, its detections as ``DetDataSample`` predictions.

    Args:
        onnx_file: A model written by ``tools/export_onnx.py`` (inputs
            ``input`` ``(B, 3, H, W)``; outputs ``dets`` ``(K, 5)``,
            ``labels`` ``(K,)``, ``batch_inds`` ``(K,)``).
        data_preprocessor: The config's ``model.data_preprocessor``.
        num_threads: ONNX Runtime intra-op threads (0: its default).
        graph_optimization: ONNX Runtime's graph optimisations (all levels)
            on, else off.
    """

    def __init__(
        self,
        onnx_file: str,
        data_preprocessor: Optional[dict] = None,
        num_threads: int = 0,
        graph_optimization: bool = True,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        import onnxruntime

        self.onnx_file = onnx_file
        self.meta = onnx_metadata(onnx_file)
        self.input_size = tuple(self.meta['input_size'])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
        level = onnxruntime.GraphOptimizationLevel
        options.graph_optimization_level = (
            level.ORT_ENABLE_ALL if graph_optimization else level.ORT_DISABLE_ALL
        )
        self.session = onnxruntime.InferenceSession(
            onnx_file, options, providers=['CPUExecutionProvider']
        )
        self.dataset_meta = dict(classes=tuple(self.meta.get('classes') or ()))

    def run(self, inputs: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Detections of each image of a preprocessed batch, in input pixels.

        Args:
            inputs: ``(B, 3, H, W)``; ``(H, W)`` must be the exported input size.

        Returns:
            Per image ``bboxes`` ``(K, 4)``, ``scores`` ``(K,)``, ``labels`` ``(K,)``.

        Raises:
            ValueError: naming the file and both sizes when ``(H, W)`` differs.
        """
        if tuple(inputs.shape[-2:]) != self.input_size:
            raise ValueError(
                f'{self.onnx_file} was exported for {self.input_size[0]}x{self.input_size[1]} '
                f'inputs but the data preprocessor gives '
                f'{inputs.shape[-2]}x{inputs.shape[-1]}: export it with --input-size '
                f'{inputs.shape[-2]} {inputs.shape[-1]}, or use its own config'
            )
        array = inputs.detach().float().cpu().contiguous().numpy()
        dets, labels, inds = (torch.from_numpy(o) for o in self.session.run(None, {'input': array}))
        return [
            (dets[inds == i, :4], dets[inds == i, 4], labels[inds == i])
            for i in range(inputs.shape[0])
        ]

    def forward(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[Sequence[DetDataSample]] = None,
        mode: str = 'predict',
    ) -> List[DetDataSample]:
        """``mode='predict'`` only: the samples with ``pred_instances`` in original pixels."""
        if mode != 'predict':
            raise ValueError(f'OnnxRuntimeDetector only predicts; got mode={mode!r}')
        if data_samples is None:
            data_samples = [DetDataSample() for _ in range(inputs.shape[0])]
        for sample, (bboxes, scores, labels) in zip(data_samples, self.run(inputs)):
            scale = sample.metainfo.get('scale_factor')
            if scale is not None:  # (w, h), as mmdet's rescale=True
                bboxes = bboxes / bboxes.new_tensor(scale).repeat(2)
            sample.pred_instances = InstanceData(bboxes=bboxes, scores=scores, labels=labels)
        return list(data_samples)


def use_onnx_model(cfg: Config, onnx_file: str, config_path: str = 'the config') -> None:
    """Make ``cfg`` run ``onnx_file`` (``--backend onnxruntime``): ``cfg.model`` becomes
    an :class:`OnnxRuntimeDetector` with the config's data preprocessor; hooks of the
    PyTorch model (``custom_hooks``) are dropped, and nothing is loaded.

    Raises:
        RunCheckError: for a missing ONNX file, or one exported for another input
            size than the config's test pipeline gives.
    """
    meta = onnx_metadata(onnx_file)
    exported, wanted = tuple(meta['input_size']), pipeline_input_size(cfg)
    if wanted is not None and exported != wanted:
        raise RunCheckError(
            f'{onnx_file} was exported for {exported[0]}x{exported[1]} inputs but the test '
            f'pipeline of {config_path} resizes to {wanted[0]}x{wanted[1]}: export it with '
            f'--input-size {wanted[0]} {wanted[1]}'
        )
    cfg.model = dict(
        type='OnnxRuntimeDetector',
        onnx_file=onnx_file,
        data_preprocessor=cfg.model.get('data_preprocessor'),
    )
    cfg.load_from = None
    cfg.custom_hooks = []  # EMA, channels_last, config checks: hooks of the PyTorch model
