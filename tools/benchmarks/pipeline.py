"""SSD300 train pipeline throughput on one core: ssd_plugin's transforms vs mmdet's.

The pipeline is mmdet's ``ssd300_coco.py`` train pipeline (LoadImageFromFile,
LoadAnnotations, Expand, MinIoURandomCrop, Resize 300x300 keep_ratio=False,
RandomFlip 0.5, PhotoMetricDistortion, PackDetInputs). Only Expand,
MinIoURandomCrop and PhotoMetricDistortion differ between the rows: ``mmdet.``
prefixed types for the baseline, the plugin's for the others (eager, and with
``Expand(lazy=True)`` as the plugin's SSD configs use it). Everything else is
mmdet's in every row.

No dataset is downloaded: ``--num-images`` synthetic scenes (smooth background,
filled shapes, mild noise; JPEG quality 90; one box per shape) are written to
a temporary directory and fed as mmdet result dicts (``img_path`` +
``instances``). Every row runs on the same images with the same seed, rows
interleaved round by round; images/s is the median over ``--rounds``.

Example::

    python tools/benchmark.py pipeline --num-images 48 --rounds 5
"""

import argparse
import os
import tempfile
import time
import tracemalloc
from functools import partial
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch

from ._common import machine_info, markdown_table, time_fns

MEAN = [123.675, 116.28, 103.53]
ROWS = (
    ('mmdet', 'mmdet.', {}),
    ('ssd_plugin', '', {'lazy': False}),
    ('ssd_plugin (lazy Expand)', '', {'lazy': True}),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``pipeline`` sub-command."""
    parser = subparsers.add_parser(
        'pipeline', help='SSD300 train pipeline images/s, plugin vs mmdet (one core)'
    )
    parser.add_argument('--num-images', type=int, default=48, help='synthetic images')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--rounds', type=int, default=5, help='timed passes per pipeline')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--no-pin', action='store_true', help='do not pin the process to one CPU core'
    )
    parser.set_defaults(func=main)


def make_images(out_dir: str, num: int, width: int, height: int, seed: int) -> List[dict]:
    """Write ``num`` synthetic ``width`` x ``height`` JPEG scenes to ``out_dir``.

    Returns:
        list[dict]: Per image ``img_path``, ``img_id`` and ``instances``
        (``bbox`` [x1, y1, x2, y2], ``bbox_label``, ``ignore_flag``).
    """
    rng = np.random.default_rng(seed)
    data = []
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(num):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (width + height) + 0.5
        img = c0 + (c1 - c0) * t[..., None].clip(0, 1)
        instances = []
        for _ in range(rng.integers(1, 9)):
            bw = int(rng.uniform(16, width * 0.6))
            bh = int(rng.uniform(16, height * 0.6))
            x1, y1 = int(rng.uniform(0, width - bw)), int(rng.uniform(0, height - bh))
            colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
            if rng.random() < 0.5:
                cv2.rectangle(img, (x1, y1), (x1 + bw - 1, y1 + bh - 1), colour, -1)
            else:
                centre, axes = (x1 + bw // 2, y1 + bh // 2), (bw // 2, bh // 2)
                cv2.ellipse(img, centre, axes, 0, 0, 360, colour, -1)
            instances.append(
                dict(
                    bbox=[x1, y1, x1 + bw, y1 + bh], bbox_label=int(rng.integers(80)), ignore_flag=0
                )
            )
        img += rng.normal(0, 6, img.shape)
        path = os.path.join(out_dir, f'{i:04d}.jpg')
        cv2.imwrite(path, img.clip(0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
        data.append(dict(img_path=path, img_id=i, instances=instances))
    return data


def build_pipeline(prefix: str, expand_kwargs: Dict) -> list:
    """Build the SSD300 train pipeline; ``prefix`` goes before the three SSD transforms."""
    from mmengine.registry import DefaultScope

    from ssd_plugin.registry import TRANSFORMS

    cfgs = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type=prefix + 'Expand', mean=MEAN, to_rgb=True, ratio_range=(1, 4), **expand_kwargs),
        dict(
            type=prefix + 'MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3
        ),
        dict(type='Resize', scale=(300, 300), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5),
        dict(
            type=prefix + 'PhotoMetricDistortion',
            brightness_delta=32,
            contrast_range=(0.5, 1.5),
            saturation_range=(0.5, 1.5),
            hue_delta=18,
        ),
        dict(type='PackDetInputs'),
    ]
    # Plain names resolve in the plugin's scope (falling back to mmdet's),
    # whatever default scope the caller has set.
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        return [TRANSFORMS.build(cfg) for cfg in cfgs]


def run_once(pipeline: Sequence, data: List[dict], seed: int, per_step: List[float]) -> None:
    """Run ``pipeline`` over ``data`` once, adding each step's seconds to ``per_step``."""
    np.random.seed(seed)
    for item in data:
        results = dict(item)
        for k, transform in enumerate(pipeline):
            t0 = time.perf_counter()
            results = transform(results)
            per_step[k] += time.perf_counter() - t0


def expand_crop_peak_mb(pipeline: Sequence, data: List[dict], seed: int) -> Dict[str, float]:
    """Peak memory allocated while Expand and MinIoURandomCrop run (untimed pass).

    Measured with :mod:`tracemalloc` (numpy and OpenCV's Python arrays report
    to it), relative to what was allocated before Expand; mean and max over
    the images, in MiB.
    """
    if not hasattr(tracemalloc, 'reset_peak'):  # Python < 3.9
        return {'mean': float('nan'), 'max': float('nan')}
    expand_at = next(i for i, t in enumerate(pipeline) if type(t).__name__ == 'Expand')
    peaks = []
    np.random.seed(seed)
    tracemalloc.start()
    try:
        for item in data:
            results = dict(item)
            for k, transform in enumerate(pipeline):
                if k == expand_at:
                    base = tracemalloc.get_traced_memory()[0]
                    tracemalloc.reset_peak()
                results = transform(results)
                if k == expand_at + 1:
                    peaks.append((tracemalloc.get_traced_memory()[1] - base) / 2**20)
    finally:
        tracemalloc.stop()
    return {'mean': float(np.mean(peaks)), 'max': float(np.max(peaks))}


def main(args: argparse.Namespace) -> dict:
    """Time the pipelines and print markdown tables; return the results.

    The process is pinned to one core with torch and OpenCV on one thread
    while timing; the previous settings are restored afterwards.
    """
    saved = (torch.get_num_threads(), cv2.getNumThreads())
    affinity = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else None
    pinned = not args.no_pin and affinity is not None
    pipelines = [build_pipeline(prefix, kwargs) for _, prefix, kwargs in ROWS]
    names = [type(t).__name__ for t in pipelines[0]]
    per_step = [[0.0] * len(names) for _ in ROWS]
    try:
        if pinned:
            os.sched_setaffinity(0, {min(affinity)})
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        with tempfile.TemporaryDirectory(prefix='ssd_pipeline_bench_') as tmp:
            data = make_images(tmp, args.num_images, args.width, args.height, args.seed)
            for pipeline in pipelines:  # warm-up: file cache, lazy imports
                run_once(pipeline, data, args.seed, [0.0] * len(names))
            runs = [partial(run_once, p, data, args.seed, s) for p, s in zip(pipelines, per_step)]
            times, _ = time_fns(*runs, warmup=0, repeat=args.rounds)
            peaks = [expand_crop_peak_mb(p, data, args.seed) for p in pipelines]
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])
        if pinned:
            os.sched_setaffinity(0, affinity)

    n = args.num_images
    rows = [
        {
            'pipeline': label,
            'img/s': n / t,
            'ms/img': 1000 * t / n,
            'ratio': times[0] / t,
            'vs mmdet': f'{times[0] / t:.2f}x',
            'Expand+crop peak MiB (mean)': peak['mean'],
            'Expand+crop peak MiB (max)': peak['max'],
        }
        for (label, _, _), t, peak in zip(ROWS, times, peaks)
    ]
    step_columns = [f'{label} ms' for label, _, _ in ROWS]
    steps = [
        dict(
            step=name,
            **{c: 1000 * s[k] / (n * args.rounds) for c, s in zip(step_columns, per_step)},
        )
        for k, name in enumerate(names)
    ]
    print(
        f'SSD300 train pipeline, {n} synthetic {args.width}x{args.height} JPEGs, '
        f'{args.rounds} rounds, torch/OpenCV 1 thread{", pinned to one core" if pinned else ""}\n'
    )
    print(markdown_table(rows, ['pipeline', 'img/s', 'ms/img', 'vs mmdet', *list(rows[0])[5:]]))
    print('\nPer step, ms per image:\n')
    print(markdown_table(steps, ['step', *step_columns]))
    return {
        'machine': machine_info(),
        'settings': {
            'num_images': n,
            'size': [args.width, args.height],
            'rounds': args.rounds,
            'seed': args.seed,
            'pinned': pinned,
        },
        'pipelines': rows,
        'steps': steps,
    }
