"""Compare an exported detector's detections with PyTorch's, as sets, allowing for ties."""

from typing import List, Optional, Sequence

import numpy as np

__all__ = ['compare_detections']


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
