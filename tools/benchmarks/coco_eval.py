"""COCO bbox evaluation time: mmdet's CocoMetric (pycocotools) vs FasterCocoMetric.

The ground truth is a COCO-format file written here (``--images`` images with
``--boxes`` objects each, 80 classes, COCO-like sizes), the detections three per
object (two of its class, one of another, jittered, random scores), so no
dataset is needed. Both metrics evaluate the same detections, interleaved round
by round; the time is ``metric.evaluate`` (results to COCO format, loadRes,
evaluate, accumulate, summarize), the median over ``--rounds``. That the 12
statistics are equal is tested (tests/test_evaluation/).

Example::

    python tools/benchmark.py coco-eval --images 2000 --boxes 7 --rounds 3
"""

import argparse
import json
import os
import tempfile
import time
from typing import Dict

import numpy as np
import torch

from ._common import median, report


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``coco-eval`` sub-command."""
    parser = subparsers.add_parser(
        'coco-eval', help="COCO evaluation time, mmdet's CocoMetric vs FasterCocoMetric"
    )
    parser.add_argument('--images', type=int, default=2000)
    parser.add_argument('--boxes', type=int, default=7, help='objects per image')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.set_defaults(func=main)


def _data(out_dir: str, images: int, boxes: int, seed: int):
    rng = np.random.default_rng(seed)
    ann, samples = dict(images=[], annotations=[], categories=[]), []
    ann['categories'] = [dict(id=i + 1, name=f'c{i}') for i in range(80)]
    for img_id in range(1, images + 1):
        ann['images'].append(dict(id=img_id, width=640, height=480, file_name=f'{img_id}.jpg'))
        det_boxes, scores, labels = [], [], []
        for _ in range(boxes):
            w, h = np.exp(rng.uniform(np.log(8), np.log(400), 2))
            x, y = rng.uniform(0, 640 - min(w, 639)), rng.uniform(0, 480 - min(h, 479))
            cat = int(rng.integers(0, 80))
            ann['annotations'].append(
                dict(
                    id=len(ann['annotations']) + 1,
                    image_id=img_id,
                    category_id=cat + 1,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0,
                )
            )
            for k in range(3):
                j = rng.normal(0, 0.1 * max(w, h), 4)
                det_boxes.append([x + j[0], y + j[1], x + w + j[2], y + h + j[3]])
                scores.append(rng.random())
                labels.append(cat if k < 2 else int(rng.integers(0, 80)))
        pred = dict(
            bboxes=torch.tensor(det_boxes, dtype=torch.float32),
            scores=torch.tensor(scores),
            labels=torch.tensor(labels),
        )
        samples.append(dict(img_id=img_id, ori_shape=(480, 640), pred_instances=pred))
    path = os.path.join(out_dir, 'instances.json')
    with open(path, 'w') as f:
        json.dump(ann, f)
    return path, tuple(c['name'] for c in ann['categories']), samples


def _evaluate(metric, classes, samples) -> float:
    metric.dataset_meta = dict(classes=classes)
    metric.process([], samples)
    start = time.perf_counter()
    metric.evaluate(len(samples))
    return time.perf_counter() - start


def main(args: argparse.Namespace) -> Dict:
    """Time both metrics; print a table; return the results."""
    from mmdet.evaluation.metrics import CocoMetric

    import ssd_plugin  # noqa: F401
    from ssd_plugin.evaluation import FasterCocoMetric

    with tempfile.TemporaryDirectory() as tmp:
        ann_file, classes, samples = _data(tmp, args.images, args.boxes, args.seed)
        times = {'pycocotools (CocoMetric)': [], 'faster-coco-eval (FasterCocoMetric)': []}
        for _ in range(args.rounds):
            for name, cls in zip(times, (CocoMetric, FasterCocoMetric)):
                times[name].append(_evaluate(cls(ann_file=ann_file), classes, samples))
    medians = {name: median(t) for name, t in times.items()}
    base = medians['pycocotools (CocoMetric)']
    rows = [
        {'evaluator': name, 'evaluate()': f'{t:.2f} s', 'speed-up': f'{base / t:.2f}x'}
        for name, t in medians.items()
    ]
    title = f'{args.images} images x {args.boxes} objects, median of {args.rounds} rounds'
    columns = ['evaluator', 'evaluate()', 'speed-up']
    extra = dict(images=args.images, boxes=args.boxes, times=times, medians=medians)
    return report('coco-eval', title, rows, columns, **extra)
