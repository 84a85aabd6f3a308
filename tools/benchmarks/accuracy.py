"""``accuracy``: train a plugin config and its mmdet baseline with the same
schedule and seed on the project's generated dataset, and report both bbox mAPs.

Each side trains in a fresh process (``randomness.seed=SEED``), with the config
loaded and the Runner built as ``tools/train.py`` does, and is then evaluated in
it on the generated val split, as ``tools/test.py`` does; the process returns
the COCO metrics.
"""

import argparse
import os
import os.path as osp
import time
from typing import Dict

from mmengine.config import DictAction

from ._common import in_fresh_process, report

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_PAIR = (
    'configs/demo/ssd_cspdarknet_synthetic_cpu.py',
    'configs/baselines/mmdet_ssd_cspdarknet_synthetic_cpu.py',
)
METRICS = ['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l']


def train_and_test(config: str, work_dir: str, cfg_options: Dict) -> Dict:
    """From the repository root: train, then test the last checkpoint (run it in a fresh
    process). Returns the COCO metrics and ``train_s`` (the imports, the config and the
    training)."""
    start = time.perf_counter()
    from ssd_plugin.apis.tool_config import build_runner, load_tool_config

    os.chdir(ROOT)  # the configs' relative data_root
    cfg = load_tool_config(config, cfg_options=cfg_options, work_dir=work_dir)
    build_runner(cfg).train()
    train_s = time.perf_counter() - start
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        cfg.load_from = f.read().strip()
    metrics = build_runner(cfg).test()
    return dict(config=config, train_s=train_s, **{m: metrics[f'coco/{m}'] for m in METRICS})


def main(args: argparse.Namespace) -> dict:
    if not osp.isdir(osp.join(ROOT, 'data', 'synthetic')):
        from synthetic_data import generate_synthetic_coco

        generate_synthetic_coco(
            osp.join(ROOT, 'data', 'synthetic'), workers=min(2, os.cpu_count() or 1)
        )
    options = {'randomness.seed': args.seed, **args.extra}
    rows = []
    for side, config in (('ours', args.config), ('mmdet', args.baseline)):
        work_dir = osp.join(args.work_dir, side)
        rows.append(dict(side=side, **in_fresh_process(train_and_test, config, work_dir, options)))
    title = 'bbox mAP on the generated val split, same schedule and seed'
    return report('accuracy', title, rows, ['side', 'config', 'train_s', *METRICS], seed=args.seed)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser('accuracy', help='bbox mAP of plugin vs mmdet, same schedule')
    parser.add_argument('--config', default=DEFAULT_PAIR[0])
    parser.add_argument('--baseline', default=DEFAULT_PAIR[1])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/accuracy')
    parser.add_argument(
        'extra', nargs='*', action=DictAction, help='more --cfg-options KEY=VALUE for both sides'
    )
    parser.set_defaults(func=main)
