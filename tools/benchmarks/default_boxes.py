"""``default_boxes``: the default-box analysis of tools/analysis_tools/default_boxes.py
on a COCO train2017-sized set.

Writes a COCO annotation file with train2017's counts (118,287 images of
640 x 480, about 860k boxes, COCO-like sizes: log-normal side around 40 px,
log-normal aspect ratio), no images (the analysis reads annotations only), and
runs the analysis (``analysis_tools/default_box_analysis/``) of ``configs/ssd300_coco.py``
pointed at it in a fresh process, as the tool does, with and without ``--fit``.
Reports wall time and the CPU time of that process.
"""

import argparse
import json
import os
import os.path as osp
import resource
import tempfile
import time
from typing import Dict

import numpy as np

from ._common import in_fresh_process

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'ssd300_coco.py')


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``default_boxes`` sub-command."""
    parser = subparsers.add_parser(
        'default_boxes', help='default-box analysis of a COCO-sized annotation set (time)'
    )
    parser.add_argument('--num-images', type=int, default=118287)
    parser.add_argument('--num-boxes', type=int, default=860001)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fit', action='store_true', help='also time a --fit run')
    parser.add_argument('--work-dir', help='where the annotations go (default: a temp dir)')
    parser.set_defaults(func=main)


def write_annotations(path: str, num_images: int, num_boxes: int, seed: int) -> None:
    """A COCO file with ``num_images`` 640 x 480 images and ``num_boxes`` random boxes."""
    rng = np.random.default_rng(seed)
    w_img, h_img = 640, 480
    side = np.clip(np.exp(rng.normal(np.log(40), 1.0, num_boxes)), 2, 460)
    aspect = np.exp(rng.normal(0, 0.6, num_boxes))
    bw = np.clip(side * np.sqrt(aspect), 1, w_img)
    bh = np.clip(side / np.sqrt(aspect), 1, h_img)
    x = rng.uniform(0, w_img - bw)
    y = rng.uniform(0, h_img - bh)
    image_id = np.sort(rng.integers(0, num_images, num_boxes)) + 1
    cats = rng.integers(1, 81, num_boxes)
    images = [
        dict(id=i + 1, file_name=f'{i + 1:012d}.jpg', width=w_img, height=h_img)
        for i in range(num_images)
    ]
    boxes = np.round(np.stack([x, y, bw, bh], 1), 2).tolist()
    areas = np.round(bw * bh, 2).tolist()
    anns = [
        dict(id=j + 1, image_id=int(i), category_id=int(c), bbox=b, area=a, iscrowd=0)
        for j, (i, c, b, a) in enumerate(zip(image_id, cats, boxes, areas))
    ]
    from mmdet.datasets import CocoDataset

    names = CocoDataset.METAINFO['classes']
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=categories), f)


def _analyse(out_dir: str, data_root: str, fit: bool) -> None:
    """The analysis of ``configs/ssd300_coco.py`` on ``data_root``, as the tool runs it
    with ``--no-plots``."""
    from analysis_tools.default_box_analysis import DefaultBoxAnalysis
    from ssd_plugin import register_all_modules
    from ssd_plugin.apis.tool_config import load_tool_config

    cfg_options = {'train_dataloader.dataset.dataset.data_root': data_root}
    cfg = load_tool_config(CONFIG, cfg_options=cfg_options)
    register_all_modules(init_default_scope=False)
    DefaultBoxAnalysis(CONFIG, out_dir, fit=fit, plots=False, cfg_options=cfg_options).run(cfg)


def _run(out_dir: str, data_root: str, fit: bool) -> Dict:
    """Wall and CPU seconds of :func:`_analyse` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    in_fresh_process(_analyse, out_dir, data_root, fit)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(wall_s=round(wall, 1), cpu_s=round(cpu, 1))


def main(args: argparse.Namespace) -> Dict:
    """Write the set, time the tool; returns the figures."""
    work = args.work_dir or tempfile.mkdtemp(prefix='default_boxes_bench_')
    ann_dir = osp.join(work, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    ann = osp.join(ann_dir, 'instances_train2017.json')
    if not osp.isfile(ann):
        t0 = time.perf_counter()
        write_annotations(ann, args.num_images, args.num_boxes, args.seed)
        print(f'wrote {ann} in {time.perf_counter() - t0:.0f} s')
    results = dict(num_images=args.num_images, num_boxes=args.num_boxes, cpus=os.cpu_count())
    results['analysis'] = _run(osp.join(work, 'out'), f'{work}/', fit=False)
    print(f'analysis: {results["analysis"]["wall_s"]} s wall, {results["analysis"]["cpu_s"]} s CPU')
    if args.fit:
        results['fit'] = _run(osp.join(work, 'out_fit'), f'{work}/', fit=True)
        print(f'with --fit: {results["fit"]["wall_s"]} s wall, {results["fit"]["cpu_s"]} s CPU')
    return results
