"""``accuracy``: train a plugin config and its mmdet baseline with the same
schedule and seed on the project's generated dataset, and report both bbox mAPs.

Each side runs ``tools/train.py`` in its own process (with ``--cfg-options
randomness.seed=SEED``) and is then evaluated by ``tools/test.py`` on the
generated val split; the COCO metrics are read from the test run's JSON log.
"""

import argparse
import glob
import json
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List

from ._common import machine_info, markdown_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_PAIR = (
    'configs/demo/ssd_cspdarknet_synthetic_cpu.py',
    'configs/baselines/mmdet_ssd_cspdarknet_synthetic_cpu.py',
)
METRICS = ['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l']


def _run(cmd: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - start


def _last_metrics(work_dir: str) -> Dict[str, float]:
    """COCO metrics of the newest test run under ``work_dir``."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    for log in reversed(logs):
        with open(log) as f:
            lines = [json.loads(line) for line in f if 'coco/bbox_mAP' in line]
        if lines:
            return {m: lines[-1][f'coco/{m}'] for m in METRICS}
    raise RuntimeError(f'no COCO metrics found in the logs under {work_dir}')


def train_and_test(config: str, work_dir: str, seed: int, extra: List[str]) -> Dict:
    python = sys.executable
    options = ['--cfg-options', f'randomness.seed={seed}', *extra]
    train_s = _run([python, 'tools/train.py', config, '--work-dir', work_dir, *options])
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    _run([python, 'tools/test.py', config, ckpt, '--work-dir', work_dir])
    return dict(config=config, train_s=train_s, **_last_metrics(work_dir))


def main(args: argparse.Namespace) -> dict:
    if not osp.isdir(osp.join(ROOT, 'data', 'synthetic')):
        _run([sys.executable, 'tools/generate_dataset.py', '--out', 'data/synthetic'])
    rows = []
    for side, config in (('ours', args.config), ('mmdet', args.baseline)):
        work_dir = osp.join(args.work_dir, side)
        rows.append(dict(side=side, **train_and_test(config, work_dir, args.seed, args.extra)))
    print('\nbbox mAP on the generated val split, same schedule and seed\n')
    print(markdown_table(rows, ['side', 'config', 'train_s', *METRICS]))
    return dict(benchmark='accuracy', machine=machine_info(), seed=args.seed, rows=rows)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser('accuracy', help='bbox mAP of plugin vs mmdet, same schedule')
    parser.add_argument('--config', default=DEFAULT_PAIR[0])
    parser.add_argument('--baseline', default=DEFAULT_PAIR[1])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/accuracy')
    parser.add_argument('extra', nargs='*', help='more --cfg-options KEY=VALUE for both sides')
    parser.set_defaults(func=main)
