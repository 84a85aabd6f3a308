"""FasterCocoMetric: faster-coco-eval's COCO statistics equal pycocotools'."""

import json

import numpy as np
import pytest
import torch
from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric

from ssd_plugin.evaluation import FasterCocoMetric
from ssd_plugin.registry import METRICS
from synthetic_data import generate_synthetic_coco

pytest.importorskip('faster_coco_eval')


@pytest.fixture(scope='module')
def demo_val(tmp_path_factory):
    """The demo's val split (200 generated images, the demo's defaults) and detections
    near its boxes: three per object, two of its class and one of a random class,
    with jittered corners and random scores."""
    root = str(tmp_path_factory.mktemp('demo_val')) + '/'
    generate_synthetic_coco(root, num_train=0, num_val=200, log=lambda _: None)
    ann_file = root + 'annotations/instances_val.json'
    with open(ann_file) as f:
        ann = json.load(f)
    rng = np.random.default_rng(0)
    objects = {}
    for a in ann['annotations']:
        objects.setdefault(a['image_id'], []).append(a)
    samples = []
    for img in ann['images']:
        boxes, scores, labels = [], [], []
        for a in objects.get(img['id'], []):
            x, y, w, h = a['bbox']
            for k in range(3):
                jitter = rng.normal(0, 0.1 * max(w, h), 4)
                boxes.append([x + jitter[0], y + jitter[1], x + w + jitter[2], y + h + jitter[3]])
                scores.append(rng.random())
                labels.append(a['category_id'] - 1 if k < 2 else int(rng.integers(0, 6)))
        pred = dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long),
        )
        samples.append(
            dict(img_id=img['id'], ori_shape=(img['height'], img['width']), pred_instances=pred)
        )
    classes = tuple(c['name'] for c in ann['categories'])
    return ann_file, classes, samples


def _stats(metric, classes, samples, factory_owner, attr):
    """Evaluate, returning the 12 raw statistics of the COCOeval object it used."""
    made = []
    factory = getattr(factory_owner, attr)

    def recording(*args, **kwargs):
        made.append(factory(*args, **kwargs))
        return made[-1]

    setattr(factory_owner, attr, recording)
    try:
        metric.dataset_meta = dict(classes=classes)
        metric.process([], samples)
        results = metric.evaluate(len(samples))
    finally:
        setattr(factory_owner, attr, factory)
    assert len(made) == 1
    return np.asarray(made[0].stats[:12]), results


def test_all_12_statistics_equal_pycocotools(demo_val):
    ann_file, classes, samples = demo_val
    pycocotools_eval = mmdet_coco_metric.COCOeval
    ours = METRICS.build(dict(type='ssd_plugin.FasterCocoMetric', ann_file=ann_file))
    assert type(ours) is FasterCocoMetric
    fast, fast_results = _stats(ours, classes, samples, ours, '_coco_eval')
    reference, ref_results = _stats(
        CocoMetric(ann_file=ann_file), classes, samples, mmdet_coco_metric, 'COCOeval'
    )
    assert mmdet_coco_metric.COCOeval is pycocotools_eval  # swapped for our call only
    assert reference[0] > 0.1 and reference[6] > 0.1  # AP and AR are far from 0 and 1
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12)
    assert fast_results == ref_results  # mmdet's metric names and rounding


def test_refuses_mp_eval():
    with pytest.raises(ValueError, match='use_mp_eval'):
        FasterCocoMetric(ann_file=None, use_mp_eval=True)
