"""Write an :class:`~ssd_plugin.deploy.SSDOnnxWrapper` to ONNX and check it under
onnxruntime against PyTorch: the tool layer of ``tools/export_onnx.py`` and of
``tools/benchmark.py infer``.

The graph's input ``input`` is ``(batch, 3, H, W)`` with a dynamic batch; its
outputs are ``dets`` ``(K, 5)``, ``labels`` ``(K,)`` and ``batch_inds``
``(K,)``. The preprocessing the input needs and the class names are written
into the model's metadata (``input_size``, ``mean``, ``std``, ``bgr_to_rgb``,
``classes``), for :mod:`ssd_plugin.apis.onnxruntime_detector`.
"""

import json
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from ssd_plugin.deploy import SSDOnnxWrapper, compare_detections

__all__ = ['export_onnx', 'pipeline_input_size', 'verify_onnx']


def export_onnx(
    wrapper: SSDOnnxWrapper, out: str, opset: int = 17, dynamic_batch: bool = True
) -> None:
    """Write the ONNX file of ``wrapper`` with metadata (preprocessing, classes).

    Args:
        wrapper: The detector with its post-processing.
        out: The ``.onnx`` file to write.
        opset: ONNX opset (>= 11: ``NonMaxSuppression``).
        dynamic_batch: Leave the batch axis of ``input`` free; else it is 1.
    """
    import onnx

    model = wrapper.detector
    torch.onnx.export(
        wrapper,
        (torch.zeros(2 if dynamic_batch else 1, 3, *wrapper.input_size),),
        out,
        input_names=['input'],
        output_names=['dets', 'labels', 'batch_inds'],
        dynamic_axes={'input': {0: 'batch'}} if dynamic_batch else None,
        opset_version=opset,
        dynamo=False,
    )
    preprocessor = model.data_preprocessor
    normalize = preprocessor._enable_normalize
    meta = dict(
        input_size=list(wrapper.input_size),
        mean=preprocessor.mean.flatten().tolist() if normalize else None,
        std=preprocessor.std.flatten().tolist() if normalize else None,
        bgr_to_rgb=bool(preprocessor._channel_conversion),
        classes=list((getattr(model, 'dataset_meta', None) or {}).get('classes', [])),
    )
    onnx_model = onnx.load(out)
    for key, value in meta.items():
        onnx_model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(onnx_model, out)


def verify_onnx(wrapper: SSDOnnxWrapper, out: str, batch_sizes: Sequence[int] = (1, 2)) -> int:
    """Compare onnxruntime and PyTorch on random inputs; the number of detections.

    Runs each batch size of ``batch_sizes`` (random images, the same seed),
    and compares image by image. Detections are compared as sets
    (:func:`ssd_plugin.deploy.compare_detections`): pairs must agree in label,
    box and score; a detection only one side has must be one that a near-tie
    may rightly keep or drop (NMS between near-equal scores, a score at
    ``score_thr``, a level's top-k boundary or ``max_per_img``), and every
    onnxruntime box must be one of PyTorch's candidates.

    Raises:
        RuntimeError: listing the differences no tie explains, with the batch
            size and the image.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
    total = 0
    for batch in batch_sizes:
        rng = np.random.default_rng(0)
        img = rng.standard_normal((batch, 3, *wrapper.input_size)).astype(np.float32)
        dets, labels, inds = session.run(None, {'input': img})
        with torch.no_grad():
            ref_dets, ref_labels, ref_inds = (t.numpy() for t in wrapper(torch.from_numpy(img)))
        for i in range(batch):
            boxes, scores, kth = wrapper.all_candidates(torch.from_numpy(img[i : i + 1]))
            problems = compare_detections(
                dets[inds == i],
                labels[inds == i],
                ref_dets[ref_inds == i],
                ref_labels[ref_inds == i],
                iou_thr=wrapper.iou_thr,
                max_per_img=wrapper.max_per_img,
                cutoffs=[wrapper.score_thr] + kth,
                candidates=(boxes.numpy(), scores.numpy()),
            )
            if problems:
                raise RuntimeError(
                    f'batch {batch}, image {i}: onnxruntime ({int((inds == i).sum())} '
                    f'detections) and PyTorch ({int((ref_inds == i).sum())}) differ:\n  '
                    + '\n  '.join(problems[:10])
                    + (f'\n  ... ({len(problems) - 10} more)' if len(problems) > 10 else '')
                )
        total += len(dets)
    return total


def pipeline_input_size(cfg: Any) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of the test pipeline's fixed-size ``Resize``, if any."""
    for step in cfg.test_dataloader.dataset.get('pipeline', []):
        scale = step.get('scale')
        if str(step.get('type', '')).endswith('Resize') and not step.get('keep_ratio', False):
            if isinstance(scale, int):
                return scale, scale
            if isinstance(scale, (tuple, list)) and len(scale) == 2:
                return int(scale[1]), int(scale[0])  # mmdet's scale is (w, h)
    return None
