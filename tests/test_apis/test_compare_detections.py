"""compare_detections: detection sets equal up to order and near-ties, on hand-made sets."""

import numpy as np
import pytest

from ssd_plugin.apis.onnx_export import compare_detections
from ssd_plugin.deploy import check_input_size

A = [10, 10, 50, 50]
B = [12, 10, 52, 50]  # IoU with A: 38 * 40 / (2 * 1600 - 38 * 40) = 0.905
C = [100, 100, 140, 150]  # far from A and B


def dets(*rows):
    return np.array([box + [score] for box, score in rows], np.float32).reshape(-1, 5)


def compare(got, got_labels, ref, ref_labels, **kwargs):
    kwargs.setdefault('iou_thr', 0.45)
    kwargs.setdefault('max_per_img', 100)
    return compare_detections(got, np.array(got_labels), ref, np.array(ref_labels), **kwargs)


def test_equal_sets_in_another_order_agree():
    ref = dets((A, 0.9), (C, 0.5))
    got = dets((C, 0.50001), (A, 0.9))  # float noise in the score, other order
    assert compare(got, [2, 1], ref, [1, 2]) == []


def test_nms_tie_keeping_the_other_box_is_explained():
    # A and B score within 1e-6: PyTorch keeps A and suppresses B, onnxruntime the reverse.
    ref = dets((A, 0.7000004), (C, 0.3))
    got = dets((B, 0.7000000), (C, 0.3))
    assert compare(got, [0, 0], ref, [0, 0]) == []


def test_a_missing_detection_is_reported():
    ref = dets((A, 0.9), (C, 0.5))
    got = dets((A, 0.9))
    problems = compare(got, [0], ref, [0, 0])
    assert len(problems) == 1 and 'only the reference has label 0' in problems[0]


def test_same_boxes_with_other_labels_or_scores_are_reported():
    ref = dets((A, 0.9), (C, 0.5))
    assert len(compare(dets((A, 0.9), (C, 0.5)), [0, 3], ref, [0, 0])) == 2
    # 0.6 cannot be the reference's 0.5 (that one may count as suppressed by it).
    problems = compare(dets((A, 0.9), (C, 0.6)), [0, 0], ref, [0, 0])
    assert len(problems) == 1 and 'only the export has label 0' in problems[0]


def test_a_shifted_box_is_caught_by_the_candidates():
    # Shifted by 2 px, the box overlaps its reference enough to pass as an NMS tie;
    # it is no candidate of the reference computation, so it is reported.
    ref = dets((A, 0.8))
    got = dets((B, 0.8))
    candidates = (np.array([A, C], np.float32), np.array([[0.8], [0.1]], np.float32))
    assert compare(got, [0], ref, [0]) == []
    problems = compare(got, [0], ref, [0], candidates=candidates)
    assert len(problems) == 1 and 'none of the reference candidates' in problems[0]
    assert compare(dets((A, 0.8)), [0], ref, [0], candidates=candidates) == []


def test_scores_at_a_cutoff_may_be_kept_by_one_side_only():
    ref = dets((A, 0.9), (C, 0.30000002))
    got = dets((A, 0.9))
    assert compare(got, [0], ref, [0, 0], cutoffs=[0.3]) == []
    assert len(compare(got, [0], ref, [0, 0], cutoffs=[0.2])) == 1
    # max_per_img: the other side is full and its last score ties with this one.
    full = dets((A, 0.9), (C, 0.4))
    assert compare(full, [0, 1], dets((A, 0.9), (B, 0.40000001)), [0, 1], max_per_img=2) == []


class _Generator:
    strides = [(8, 8), (16, 16), (100, 100)]


def test_check_input_size_without_the_plugin_generator():
    check_input_size(_Generator(), [(38, 38), (19, 19), (3, 3)], (300, 300))
    with pytest.raises(
        ValueError, match='Level 2: feature map 3x3 but stride 100x100 on a 320x320'
    ):
        check_input_size(_Generator(), [(40, 40), (20, 20), (3, 3)], (320, 320))
    with pytest.raises(ValueError, match='2 feature maps but the anchor generator has 3 levels'):
        check_input_size(_Generator(), [(38, 38), (19, 19)], (300, 300))
