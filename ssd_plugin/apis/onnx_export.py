"""Build a detector from a config and a checkpoint that must fit it, wrap it as an
:class:`~ssd_plugin.deploy.SSDOnnxWrapper`, write that to ONNX and check it under
onnxruntime against PyTorch: the tool layer of ``tools/export_onnx.py`` and of
``tools/benchmark.py infer``.

The graph's input ``input`` is ``(batch, 3, H, W)`` with a dynamic batch; its
outputs are ``dets`` ``(K, 5)``, ``labels`` ``(K,)`` and ``batch_inds``
``(K,)``. The preprocessing the input needs and the class names are written
into the model's metadata (``input_size``, ``mean``, ``std``, ``bgr_to_rgb``,
``classes``), for :mod:`ssd_plugin.apis.onnxruntime_detector`. An export's
detections are compared with PyTorch's as sets (:func:`compare_detections`,
also the check of ``tools/deploy.py``'s exports).
"""

import json
import sys
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS, SCOPE

from .run_check_error import RunCheckError
from .weights import check_checkpoint_file_fits

__all__ = [
    'build_detector',
    'build_onnx_wrapper',
    'compare_detections',
    'default_input_size',
    'export_onnx',
    'pipeline_input_size',
    'verify_onnx',
]


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
    (:func:`compare_detections`): pairs must agree in label,
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


def build_detector(cfg: Config, checkpoint: str, config: str = 'the config') -> torch.nn.Module:
    """The detector of ``cfg`` with the weights of ``checkpoint``, in eval mode, on CPU.

    Raises:
        RunCheckError: naming the missing, unexpected and reshaped weights,
            when the checkpoint is not of this config's model.
    """
    cfg.model.backbone.init_cfg = None  # the checkpoint has the weights
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        model = MODELS.build(cfg.model)
    state, meta = check_checkpoint_file_fits(model, checkpoint, config)
    model.load_state_dict(state, strict=True)
    model.dataset_meta = meta.get('dataset_meta') or {}
    return model.eval()


def default_input_size(cfg: Config, model) -> Optional[Tuple[int, int]]:
    """``(H, W)`` the model is run at: the test pipeline's fixed ``Resize`` (what
    ``tools/test.py`` feeds it), else the anchor generator's ``input_size``."""
    size = pipeline_input_size(cfg)
    if size is not None:
        return size
    size = getattr(model.bbox_head.prior_generator, 'input_size', None)
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else tuple(size)


def build_onnx_wrapper(model, input_size, config: str, default) -> SSDOnnxWrapper:
    """The graph at ``input_size``; RunCheckError when the model cannot run on it."""
    size = f'--input-size {input_size[0]} {input_size[1]}'
    try:
        wrapper = SSDOnnxWrapper(model, input_size)
    except ValueError as err:  # an input the default boxes were not made for
        raise RunCheckError(f'{size} does not fit the default boxes of {config}: {err}') from err
    except RuntimeError as err:  # a layer left with an empty feature map
        first = str(err).strip().splitlines()[0]
        raise RunCheckError(f'{size}: the model of {config} cannot run on it ({first})') from err
    if default is not None and tuple(input_size) != tuple(default):
        print(
            f'warning: {size} differs from the {default[0]}x{default[1]} the model of {config} '
            'runs at (its test pipeline or default boxes); detections at another size may be '
            'poor',
            file=sys.stderr,
        )
    return wrapper


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with ``(N, 4)`` boxes (x1, y1, x2, y2)."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def _close(det: np.ndarray, dets: np.ndarray, score_atol: float, box_atol: float) -> np.ndarray:
    """Which of ``dets`` ``(N, 5)`` equal ``det`` ``(5,)`` within the tolerances."""
    return (np.abs(dets[:, 4] - det[4]) <= score_atol) & (
        np.abs(dets[:, :4] - det[:4]).max(axis=1) <= box_atol
    )


def compare_detections(
    dets: np.ndarray,
    labels: np.ndarray,
    ref_dets: np.ndarray,
    ref_labels: np.ndarray,
    iou_thr: float,
    max_per_img: int,
    cutoffs: Sequence[float] = (),
    candidates: Optional[tuple] = None,
    score_atol: float = 1e-4,
    box_atol: float = 1e-2,
    tie_tol: float = 1e-4,
) -> List[str]:
    """Differences between two detection sets that near-tied scores cannot explain.

    Detections are paired one to one (same label, score within
    ``score_atol``, every coordinate within ``box_atol``); their order does
    not matter. A detection of one set without a partner is explained, and
    allowed, when the two computations may rightly disagree on it:

    * NMS: the other set keeps a detection of the same label that overlaps it
      with IoU above ``iou_thr`` and scores at least as high (within
      ``tie_tol``), so it may have suppressed it there; a tie decides
      which of two near-equal boxes survives, and what it suppresses next;
    * a cutoff: its score is within ``tie_tol`` of a threshold (``score_thr``,
      a level's top-k boundary, given in ``cutoffs``), or the other set is full
      (``max_per_img``) and its score is within ``tie_tol`` of that set's lowest.

    With ``candidates``, every detection of ``dets`` must also be one of the
    reference computation's (box, class) candidates, so that a wrong box
    cannot pass as an NMS tie.

    Args:
        dets: ``(N, 5)`` ``x1, y1, x2, y2, score`` under test (e.g. onnxruntime).
        labels: ``(N,)``.
        ref_dets: ``(M, 5)`` of the reference (PyTorch).
        ref_labels: ``(M,)``.
        iou_thr: The NMS IoU threshold of both.
        max_per_img: The most detections either may keep.
        cutoffs: Scores at which a candidate may fall either side of a threshold.
        candidates: ``(boxes (P, 4), scores (P, C))`` of the reference before
            top-k and NMS.
        score_atol: Score difference of a pair.
        box_atol: Coordinate difference of a pair, in pixels.
        tie_tol: Score difference counted as a tie.

    Returns:
        One line per unexplained difference; empty when the sets agree.
    """
    dets = np.asarray(dets, np.float64).reshape(-1, 5)
    ref_dets = np.asarray(ref_dets, np.float64).reshape(-1, 5)
    labels = np.asarray(labels).reshape(-1)
    ref_labels = np.asarray(ref_labels).reshape(-1)
    problems: List[str] = []
    if candidates is not None:
        boxes, scores = (np.asarray(c, np.float64) for c in candidates)
        for i in range(len(dets)):
            pool = np.concatenate([boxes, scores[:, int(labels[i]), None]], axis=1)
            if not _close(dets[i], pool, score_atol, box_atol).any():
                problems.append(
                    f'detection {_describe(dets[i], labels[i])} is none of the reference '
                    'candidates (wrong box or score)'
                )
    paired_ref = np.zeros(len(ref_dets), bool)
    paired = np.zeros(len(dets), bool)
    for i in np.argsort(-dets[:, 4], kind='stable'):
        ok = (
            (ref_labels == labels[i])
            & ~paired_ref
            & _close(dets[i], ref_dets, score_atol, box_atol)
        )
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(np.abs(ref_dets[ok, 4] - dets[i, 4]))])
            paired_ref[j] = paired[i] = True
    for name, own, own_labels, mask, other, other_labels in (
        ('the export', dets, labels, paired, ref_dets, ref_labels),
        ('the reference', ref_dets, ref_labels, paired_ref, dets, labels),
    ):
        for i in np.flatnonzero(~mask):
            if not _explained(
                own[i], own_labels[i], other, other_labels, iou_thr, max_per_img, cutoffs, tie_tol
            ):
                problems.append(
                    f'only {name} has {_describe(own[i], own_labels[i])}, and no tie explains it'
                )
    return problems


def _explained(
    det: np.ndarray,
    label: int,
    other: np.ndarray,
    other_labels: np.ndarray,
    iou_thr: float,
    max_per_img: int,
    cutoffs: Sequence[float],
    tie_tol: float,
) -> bool:
    score = det[4]
    if any(abs(score - c) <= tie_tol for c in cutoffs):
        return True
    if len(other) >= max_per_img and score <= other[:, 4].min() + tie_tol:
        return True
    same = other[other_labels == label]
    if len(same) == 0:
        return False
    may_suppress = (_iou(det[:4], same[:, :4]) > iou_thr) & (same[:, 4] >= score - tie_tol)
    return bool(may_suppress.any())


def _describe(det: np.ndarray, label: int) -> str:
    box = ', '.join(f'{v:.2f}' for v in det[:4])
    return f'label {int(label)} box ({box}) score {det[4]:.6f}'
