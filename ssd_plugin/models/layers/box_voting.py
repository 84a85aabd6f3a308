"""Box voting: each box kept by NMS moved to the score-weighted mean of the boxes it
suppressed (Gidaris & Komodakis, 2015, "Object detection via a multi-region and
semantic segmentation-aware CNN model").

SSD predicts every object from many default boxes, each regressed on its own;
NMS keeps one of those estimates and throws the others away. Averaging the
close ones (IoU with the kept box at least ``iou_thr``, same class) weighted by
their scores lowers the error of the kept box. The demo's model gained 0.03 COCO
mAP from it, most of it at the strict IoUs (docs/demo.md).
"""

from typing import Mapping, Optional

from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor

__all__ = ['box_voting', 'check_box_voting']

BOX_VOTING_KEYS = ('iou_thr',)


def box_voting(
    kept_boxes: Tensor,
    kept_labels: Tensor,
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    iou_thr: float,
) -> Tensor:
    """Move each kept box to the score-weighted mean of the candidates that vote for it.

    A candidate votes for a kept box when it has the same label and an IoU of at
    least ``iou_thr`` with it; a kept box is among its own candidates, so it has
    at least its own vote. Only tensor arithmetic: it exports to ONNX as it is.

    Args:
        kept_boxes: ``(K, 4)`` the boxes NMS kept, ``(x1, y1, x2, y2)``.
        kept_labels: ``(K,)`` their labels.
        boxes: ``(K, N, 4)`` or ``(N, 4)``, the candidates NMS chose from (per kept
            box: e.g. those of its image in a batch).
        scores: ``(K, N)`` or ``(N,)``, the candidates' scores; 0 or less: no vote.
        labels: ``(K, N)`` or ``(N,)``, the candidates' labels.
        iou_thr: The IoU with a kept box from which a candidate votes for it.

    Returns:
        ``(K, 4)`` the voted boxes.
    """
    num_kept = kept_boxes.shape[0]
    if boxes.dim() == 2:
        boxes = boxes.expand(num_kept, -1, -1)
        scores = scores.expand(num_kept, -1)
        labels = labels.expand(num_kept, -1)
    iou = bbox_overlaps(kept_boxes[:, None, :], boxes)[:, 0]  # (K, N)
    votes = (iou >= iou_thr) & (labels == kept_labels[:, None]) & (scores > 0)
    weights = scores.clamp(min=0) * votes.to(scores.dtype)  # (K, N)
    total = weights.sum(dim=1, keepdim=True)
    voted = (weights[..., None] * boxes).sum(dim=1) / total.clamp(min=1e-12)
    # a kept box without a vote (a score of 0 or less) stays where it is
    return voted.where(total > 0, kept_boxes)


def check_box_voting(cfg: Optional[Mapping], where: str) -> Optional[float]:
    """The ``iou_thr`` of a ``box_voting`` config, or None when it is absent.

    Raises:
        ValueError: naming ``where`` and the key or value at fault.
    """
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise ValueError(f'{where}.box_voting must be a dict(iou_thr=...), got {cfg!r}')
    unknown = sorted(set(cfg) - set(BOX_VOTING_KEYS) - {'_scope_'})
    if unknown or 'iou_thr' not in cfg:
        raise ValueError(
            f'{where}.box_voting takes iou_thr only (e.g. dict(iou_thr=0.8)), got {dict(cfg)}'
        )
    iou_thr = cfg['iou_thr']
    if not isinstance(iou_thr, (int, float)) or not 0.0 < iou_thr <= 1.0:
        raise ValueError(f'{where}.box_voting.iou_thr must be in (0, 1], got {iou_thr!r}')
    return float(iou_thr)
