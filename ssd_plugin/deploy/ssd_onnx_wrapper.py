"""An SSD detector with its post-processing as one exportable module (ONNX)."""

import logging
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.ops import nms
from mmdet.structures.bbox import get_box_tensor
from mmengine.logging import print_log
from torch import Tensor, nn

__all__ = ['SSDOnnxWrapper', 'check_input_size', 'left_out_of_plain_nms']


class _NonMaxSuppression(torch.autograd.Function):
    """NMS that runs mmcv's ``nms`` eagerly and exports as ONNX ``NonMaxSuppression``.

    Takes ``boxes`` ``(B, N, 4)`` and ``scores`` ``(B, 1, N)``; returns the
    kept ``(K, 3)`` ``[batch, class, box]`` indices, image by image, highest
    score first within an image, as the ONNX operator does. A box is kept when
    its score is above ``score_thr`` and its IoU with every higher-scoring kept
    box of its image is at most ``iou_thr``; at most ``max_out`` an image.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_out: int, iou_thr: float, score_thr: float):
        rows = []
        for b in range(boxes.shape[0]):
            candidates = (scores[b, 0] > score_thr).nonzero(as_tuple=True)[0]
            _, keep = nms(boxes[b, candidates], scores[b, 0, candidates], iou_thr)
            keep = candidates[keep[:max_out]]
            zeros = torch.zeros_like(keep)
            rows.append(torch.stack([torch.full_like(keep, b), zeros, keep], dim=1))
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_out: int, iou_thr: float, score_thr: float):
        return g.op(
            'NonMaxSuppression',
            boxes,
            scores,
            g.op('Constant', value_t=torch.tensor([max_out], dtype=torch.long)),
            g.op('Constant', value_t=torch.tensor([iou_thr], dtype=torch.float)),
            g.op('Constant', value_t=torch.tensor([score_thr], dtype=torch.float)),
        )


def left_out_of_plain_nms(test_cfg) -> str:
    """What of ``test_cfg`` an export with plain NMS leaves out (ONNX
    ``NonMaxSuppression``, mmdeploy's rewriter): another ``nms.type`` (Soft-NMS)
    and ``box_voting``, as ``"nms.type='soft_nms' and box_voting={...}"``;
    empty when nothing is."""
    nms_type = (test_cfg.get('nms') or {}).get('type', 'nms')
    left_out = [f'nms.type={nms_type!r}'] if nms_type != 'nms' else []
    if test_cfg.get('box_voting') is not None:
        left_out.append(f'box_voting={dict(test_cfg["box_voting"])}')
    return ' and '.join(left_out)


def check_input_size(
    prior_generator, featmap_sizes: Sequence[Tuple[int, int]], input_size: Tuple[int, int]
) -> None:
    """Refuse an input the default boxes were not made for, as ``model.predict`` does.

    Every level must tile the input: ``ceil(input / stride) == feature map``
    (the plugin's ``SSDAnchorGenerator.check_featmap_sizes``; the same rule
    for other generators, e.g. mmdet's). Otherwise the default boxes of some
    level are centred off their cells, some outside the image.

    Raises:
        ValueError: naming the level, its stride, its feature map and the input.
    """
    check = getattr(prior_generator, 'check_featmap_sizes', None)
    if check is not None:
        check(featmap_sizes, input_size)
        return
    strides = list(prior_generator.strides)
    if len(strides) != len(featmap_sizes):
        raise ValueError(
            f'The backbone/neck produce {len(featmap_sizes)} feature maps but the anchor '
            f'generator has {len(strides)} levels'
        )
    for level, ((fh, fw), stride) in enumerate(zip(featmap_sizes, strides)):
        sw, sh = (stride, stride) if isinstance(stride, (int, float)) else stride
        want = (math.ceil(input_size[0] / sh - 1e-6), math.ceil(input_size[1] / sw - 1e-6))
        if (fh, fw) != want:
            raise ValueError(
                f'Level {level}: feature map {fh}x{fw} but stride {sh}x{sw} on a '
                f'{input_size[0]}x{input_size[1]} input needs {want[0]}x{want[1]}'
            )


class SSDOnnxWrapper(nn.Module):
    """Backbone, neck, head and the head's ``predict_by_feat`` in one graph.

    The same computation as ``SSDHead.predict_by_feat`` (``rescale=False``)
    with static shapes: per level, softmax, the ``nms_pre`` best (prior,
    class) scores above ``score_thr``, decoding with the head's own box coder
    (``DeltaXYWHBBoxCoder`` math), clipping to the input, ``min_bbox_size``,
    then per-class NMS (class offsets, as mmcv's ``batched_nms``) with ONNX
    ``NonMaxSuppression`` and ``max_per_img``. The default boxes of the fixed
    input size are constants of the graph.

    Input: ``(B, 3, H, W)`` float32, the output of the detector's data
    preprocessor (colour order and normalisation applied, no padding needed
    for SSD's fixed size); the batch may vary (NMS is per image).

    Outputs: ``dets`` ``(K, 5)`` as ``(x1, y1, x2, y2, score)`` in input
    pixels, ``labels`` ``(K,)`` int64 and ``batch_inds`` ``(K,)`` int64 (the
    image of each detection), image by image, highest score first within one.

    Args:
        detector: A single-stage detector with an SSD-style ``bbox_head``
            (``prior_generator``, ``bbox_coder``, ``cls_out_channels`` with
            the background last, ``test_cfg``).
        input_size: ``(h, w)`` of the input; every level must tile it
            (:func:`check_input_size`), else ``ValueError``.
        test_cfg: Post-processing settings; the head's ``test_cfg`` if None.
    """

    def __init__(
        self, detector: nn.Module, input_size: Sequence[int], test_cfg: Optional[dict] = None
    ) -> None:
        super().__init__()
        self.detector = detector.eval()
        self.head = detector.bbox_head
        cfg = test_cfg if test_cfg is not None else self.head.test_cfg
        if cfg is None or 'nms' not in cfg:
            raise ValueError('SSDOnnxWrapper needs a test_cfg with nms (iou_threshold)')
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.score_thr = float(cfg.get('score_thr', 0.0))
        self.iou_thr = float(cfg['nms']['iou_threshold'])
        left_out = left_out_of_plain_nms(cfg)
        if left_out:
            print_log(
                f"SSDOnnxWrapper exports plain NMS at iou_threshold {self.iou_thr}: test_cfg's "
                f'{left_out} is left out (ONNX NonMaxSuppression)',
                logger='current',
                level=logging.WARNING,
            )
        self.min_bbox_size = float(cfg.get('min_bbox_size', -1))
        self.max_per_img = int(cfg.get('max_per_img', 100))
        self.num_classes = self.head.num_classes
        param = next(detector.parameters())
        with torch.no_grad():
            feats = detector.extract_feat(param.new_zeros(1, 3, *self.input_size))
        featmap_sizes = [tuple(f.shape[-2:]) for f in feats]
        check_input_size(self.head.prior_generator, featmap_sizes, self.input_size)
        priors = self.head.prior_generator.grid_priors(featmap_sizes, device=param.device)
        self.num_levels = len(priors)
        for level, level_priors in enumerate(priors):
            self.register_buffer(f'priors_{level}', get_box_tensor(level_priors), persistent=False)
        self.eval()  # the exporter restores this mode afterwards

    def _level_candidates(
        self, cls_score: Tensor, bbox_pred: Tensor, priors: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Top (prior, class) pairs of one level, image by image.

        Args:
            cls_score: ``(B, k * (C + 1), H, W)``.
            bbox_pred: ``(B, k * 4, H, W)``.
            priors: ``(H * W * k, 4)``.

        Returns:
            ``scores`` ``(B, n)`` (``-1`` where not above ``score_thr``),
            ``labels`` ``(B, n)``, ``deltas`` ``(B, n, 4)``, ``priors`` ``(B, n, 4)``.
        """
        batch = cls_score.shape[0]
        channels = self.head.cls_out_channels
        scores = cls_score.permute(0, 2, 3, 1).reshape(batch, -1, channels).softmax(-1)
        scores = scores[..., :-1].reshape(batch, -1)  # (prior, class) pairs
        count = priors.shape[0] * self.num_classes
        k = count if self.nms_pre <= 0 else min(self.nms_pre, count)
        masked = torch.where(scores > self.score_thr, scores, torch.full_like(scores, -1.0))
        top_scores, top_idx = masked.topk(k, dim=1)
        prior_idx = torch.div(top_idx, self.num_classes, rounding_mode='floor')
        deltas = bbox_pred.permute(0, 2, 3, 1).reshape(batch, -1, 4)
        return (
            top_scores,
            top_idx - prior_idx * self.num_classes,
            deltas.gather(1, prior_idx[..., None].expand(-1, -1, 4)),
            priors.index_select(0, prior_idx.reshape(-1)).reshape(batch, k, 4),
        )

    def _decode(self, priors: Tensor, deltas: Tensor) -> Tensor:
        """Decode and clip ``(B, n, 4)`` deltas of ``(B, n, 4)`` priors (Eq. 2)."""
        boxes = self.head.bbox_coder.decode(priors.reshape(-1, 4), deltas.reshape(-1, 4))
        return self._clip(get_box_tensor(boxes).reshape(priors.shape))

    @torch.no_grad()
    def all_candidates(self, img: Tensor) -> Tuple[Tensor, Tensor, List[float]]:
        """Every (default box, class) pair before the top-k and NMS, in PyTorch.

        What an export's detections must be drawn from, for
        ``compare_detections`` of ``ssd_plugin.apis.onnx_export``.

        Args:
            img: ``(1, 3, H, W)``, one image.

        Returns:
            ``boxes`` ``(P, 4)`` decoded and clipped, ``scores`` ``(P, C)``,
            and per level the lowest score its top-k (``nms_pre``) keeps.
        """
        if img.shape[0] != 1:
            raise ValueError(f'all_candidates takes one image, got a batch of {img.shape[0]}')
        cls_scores, bbox_preds = self.head(self.detector.extract_feat(img))
        all_boxes, all_scores, kth = [], [], []
        for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            priors = getattr(self, f'priors_{level}')
            top, _, _, _ = self._level_candidates(cls_score, bbox_pred, priors)
            kth.append(float(top.min()))
            channels = self.head.cls_out_channels
            scores = cls_score.permute(0, 2, 3, 1).reshape(-1, channels).softmax(-1)[:, :-1]
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(1, -1, 4)
            all_boxes.append(self._decode(priors[None], deltas)[0])
            all_scores.append(scores)
        return torch.cat(all_boxes), torch.cat(all_scores), kth

    def _clip(self, boxes: Tensor) -> Tensor:
        if getattr(self.head.bbox_coder, 'clip_border', True):
            h, w = self.input_size
            boxes = torch.minimum(boxes.clamp(min=0), boxes.new_tensor([w, h, w, h]))
        return boxes

    def forward(self, img: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Detect on a batch of preprocessed images.

        Args:
            img: ``(B, 3, H, W)``.

        Returns:
            ``dets`` ``(K, 5)``, ``labels`` ``(K,)`` and ``batch_inds`` ``(K,)``
            (the image of each detection), image by image, highest score first
            within an image.
        """
        cls_scores, bbox_preds = self.head(self.detector.extract_feat(img))
        parts: List[Tuple[Tensor, ...]] = [
            self._level_candidates(c, b, getattr(self, f'priors_{i}'))
            for i, (c, b) in enumerate(zip(cls_scores, bbox_preds))
        ]
        scores, labels, deltas, priors = (torch.cat(p, dim=1) for p in zip(*parts))
        boxes = self._decode(priors, deltas)  # (B, N, 4)
        if self.min_bbox_size >= 0:
            wh = boxes[..., 2:] - boxes[..., :2]
            big = (wh > self.min_bbox_size).all(dim=-1)
            scores = torch.where(big, scores, torch.full_like(scores, -1.0))
        # Per-class NMS in one call: shift each class by more than any coordinate.
        offsets = labels.to(boxes.dtype)[..., None] * (boxes.max() + 1)
        keep = _NonMaxSuppression.apply(
            boxes + offsets,
            scores[:, None],
            self.max_per_img,
            self.iou_thr,
            self.score_thr,
        )
        batch_inds = keep[:, 0]
        flat = batch_inds * boxes.shape[1] + keep[:, 2]  # into the (B * N) candidates
        dets = torch.cat(
            [
                boxes.reshape(-1, 4).index_select(0, flat),
                scores.reshape(-1).index_select(0, flat)[:, None],
            ],
            1,
        )
        return dets, labels.reshape(-1).index_select(0, flat), batch_inds
