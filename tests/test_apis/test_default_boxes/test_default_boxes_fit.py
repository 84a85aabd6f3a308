"""The search: reaches full coverage where the grid allows it, keeps levels and counts."""

import numpy as np
import pytest
from default_boxes_test_utils import small_elongated_boxes

from ssd_plugin.apis.default_boxes import DefaultBoxesError, fit_default_boxes
from ssd_plugin.apis.default_boxes.coverage import match_default_boxes, summarize
from ssd_plugin.apis.default_boxes.ground_truth import GroundTruth
from ssd_plugin.models.task_modules.prior_generators import SSDAnchorGenerator

RATIOS = [[2], [2], [2]]


def _stock():
    return SSDAnchorGenerator(
        strides=[8, 16, 32],
        ratios=RATIOS,
        min_sizes=[64, 96, 112],
        max_sizes=[96, 112, 128],
        input_size=128,
    )


def _gt() -> GroundTruth:
    _, boxes = small_elongated_boxes()
    xywh = np.array([b[1:] for b in boxes], np.float32) / 2  # Resize 256 -> 128
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
    return GroundTruth(xyxy, np.tile(np.array([128, 128]), (len(xyxy), 1)))


def _coverage(gen, gt) -> float:
    return summarize(match_default_boxes(gen, gt, 0.5), gt.boxes)['all']['coverage']


def test_fit_reaches_full_coverage():
    gt, stock = _gt(), _stock()
    assert _coverage(stock, gt) == 0.0
    fit = fit_default_boxes(stock, RATIOS, gt, 0.5, log=lambda _: None)
    assert len(fit.min_sizes) == len(fit.max_sizes) == 3
    assert [len(r) for r in fit.ratios] == [1, 1, 1]  # boxes per location kept
    fitted = SSDAnchorGenerator(
        strides=[8, 16, 32],
        ratios=fit.ratios,
        min_sizes=fit.min_sizes,
        max_sizes=fit.max_sizes,
        input_size=128,
    )
    assert fitted.num_base_priors == stock.num_base_priors
    assert _coverage(fitted, gt) >= 0.95
    # the stride-8 level takes the 24 x 48 boxes: ratio 2, side about sqrt(24 * 48)
    assert fit.ratios[0] == [2.0]
    assert 28 <= fit.min_sizes[0] <= 40


def test_fit_max_ratios_and_bad_count():
    gt, stock = _gt(), _stock()
    fit = fit_default_boxes(stock, RATIOS, gt, 0.5, num_ratios=2, log=lambda _: None)
    assert [len(r) for r in fit.ratios] == [2, 2, 2]
    with pytest.raises(DefaultBoxesError, match='--max-ratios 9: give 0 to 5'):
        fit_default_boxes(stock, RATIOS, gt, 0.5, num_ratios=9)


def test_fit_never_below_the_configured_boxes():
    # Boxes that are exactly the configured shapes at grid centres: IoU 1 everywhere,
    # nothing can score better, every level is reported unchanged and kept.
    stock = _stock()
    boxes = []
    for stride, base in zip([8, 16, 32], stock.base_anchors):
        for cell in range(2):
            boxes.append(base.numpy() + stride * cell)
    gt = GroundTruth(np.concatenate(boxes).astype(np.float32), np.full((24, 2), 128))
    fit = fit_default_boxes(stock, RATIOS, gt, 0.5, log=lambda _: None)
    assert [k for k, _ in fit.unchanged] == [0, 1, 2]
    assert 'kept as configured' in fit.unchanged[0][1]
    assert fit.min_sizes == [64.0, 96.0, 112.0]
    assert fit.max_sizes == pytest.approx([96.0, 112.0, 128.0])
