"""The demo: generate a dataset, train a small SSD on CPU, evaluate it, draw detections.

Examples::

    python tools/demo.py                      # the README's first command runs this
    python tools/demo.py --epochs 2 --work-dir work_dirs/demo_short
    python tools/demo.py --retrain            # train again even if a finished run exists

Steps, each printed as it starts:

1. generate the synthetic COCO-format dataset (``tools/generate_dataset.py``)
   in ``--data-root``, unless it is there already;
2. train ``configs/demo/ssd_cspdarknet_synthetic_cpu.py`` (the log shows the
   progress and an ETA), unless ``--work-dir`` holds a finished run of the
   same settings;
3. evaluate the final checkpoint on the val split with pycocotools (COCO
   bbox mAP, printed and saved to ``WORK_DIR/demo_metrics.json``); after a
   training run this is the validation that training ran on its last epoch;
4. draw the detections of the first ``--num-draw`` val images into
   ``WORK_DIR/infer/vis/`` and write ``WORK_DIR/infer/detections.json``.

The paths of everything written are printed at the end.
"""

import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.datasets import generate_synthetic_coco
from ssd_plugin.datasets.synthetic_coco import DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo', 'ssd_cspdarknet_synthetic_cpu.py')
DONE_FILE = 'demo_done.json'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train and evaluate SSD on generated data')
    parser.add_argument('--config', default=DEMO_CONFIG, help='the demo config')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='logs, checkpoints, outputs')
    parser.add_argument('--data-root', default='data/synthetic', help='the generated dataset')
    parser.add_argument(
        '--num-train', type=int, default=DEFAULT_NUM_TRAIN, help='training images to generate'
    )
    parser.add_argument(
        '--num-val', type=int, default=DEFAULT_NUM_VAL, help='val images to generate'
    )
    parser.add_argument('--epochs', type=int, default=None, help='override the config epochs')
    parser.add_argument('--num-draw', type=int, default=12, help='val images to draw')
    parser.add_argument('--retrain', action='store_true', help='train even if a run is done')
    parser.add_argument(
        '--nproc',
        type=int,
        default=None,
        help='training processes (torchrun, gloo; the CPU threads are split between them); '
        'default: 2 where there are 2+ cores, else 1 (in this process)',
    )
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config'
    )
    return parser.parse_args(argv)


def _step(number: int, text: str) -> None:
    print(f'\n[demo {number}/4] {text}', flush=True)


def build_config(args: argparse.Namespace) -> Config:
    """The demo config with the command line applied."""
    cfg = Config.fromfile(args.config)
    options: Dict = {}
    data_root = args.data_root.rstrip('/') + '/'
    options['train_dataloader.dataset.data_root'] = data_root
    options['val_dataloader.dataset.data_root'] = data_root
    options['test_dataloader.dataset.data_root'] = data_root
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    options['val_evaluator.ann_file'] = ann
    options['test_evaluator.ann_file'] = ann
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f'--epochs must be at least 1, got {args.epochs}')
        options['train_cfg.max_epochs'] = args.epochs
        options['train_cfg.val_interval'] = args.epochs
        options['default_hooks.checkpoint.interval'] = args.epochs
        for i, scheduler in enumerate(cfg.param_scheduler):
            if scheduler.get('by_epoch', True):
                options[f'param_scheduler.{i}.end'] = args.epochs
                if 'T_max' in scheduler:
                    options[f'param_scheduler.{i}.T_max'] = args.epochs
    options.update(args.cfg_options or {})
    cfg.merge_from_dict(options)
    cfg.work_dir = args.work_dir
    return cfg


def _fingerprint(cfg: Config, dataset: Dict, nproc: int) -> str:
    """A hash of what decides the trained weights: config, dataset parameters, processes."""
    text = cfg.pretty_text + json.dumps(dataset['params'], sort_keys=True) + f'nproc={nproc}'
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _finished_run(work_dir: str, fingerprint: str) -> Optional[str]:
    """The checkpoint of a finished run with this fingerprint in ``work_dir``, if any."""
    path = osp.join(work_dir, DONE_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        done = json.load(f)
    ckpt = done.get('checkpoint')
    if done.get('fingerprint') != fingerprint or not ckpt or not osp.isfile(ckpt):
        return None
    return ckpt


class _LastValMetrics(Hook):
    """Keeps the metrics of the latest validation during training."""

    def __init__(self) -> None:
        self.metrics: Optional[Dict[str, float]] = None
        self.epoch = -1

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self.metrics, self.epoch = metrics, runner.epoch


def train(cfg: Config) -> Tuple[str, Optional[Dict[str, float]]]:
    """Train with a Runner.

    Returns:
        The final checkpoint's path, and the COCO metrics of the validation
        run on those final weights (None when the last epoch did not validate).
    """
    runner = Runner.from_cfg(cfg)
    last_val = _LastValMetrics()
    runner.register_hook(last_val, priority='LOWEST')
    runner.train()
    final = last_val.metrics if last_val.epoch == cfg.train_cfg.max_epochs else None
    return osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth'), final


def _last_val_metrics(work_dir: str, epoch: int) -> Optional[Dict[str, float]]:
    """The COCO metrics of the validation at ``epoch`` in the newest run's scalar log.

    mmengine's ``LocalVisBackend`` writes one JSON line per logged step to
    ``WORK_DIR/<timestamp>/vis_data/scalars.json``; validation lines carry the
    ``coco/`` metrics and the epoch as ``step``.
    """
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')), key=osp.getmtime)
    if not runs:
        return None
    metrics = None
    with open(runs[-1]) as f:
        for line in f:
            record = json.loads(line)
            if record.get('step') == epoch and 'coco/bbox_mAP' in record:
                metrics = {k: v for k, v in record.items() if k.startswith('coco/')}
    return metrics


def train_distributed(cfg: Config, nproc: int) -> Tuple[str, Optional[Dict[str, float]]]:
    """Train in ``nproc`` CPU processes, as ``tools/dist_train.sh`` does (torchrun, gloo).

    On a 2-core machine two single-threaded processes train about 1.7x faster
    than one process with two threads: the small convolutions of this model
    use two threads poorly, and each process takes half of every batch.

    Returns:
        As :func:`train`.
    """
    os.makedirs(cfg.work_dir, exist_ok=True)
    dumped = osp.join(cfg.work_dir, 'demo_train_config.py')
    cfg.dump(dumped)
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
    cmd = [
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--standalone',  # a free local port, no MASTER_ADDR/PORT to set
        f'--nproc_per_node={nproc}',
        osp.join(ROOT, 'tools', 'train.py'),
        dumped,
        '--launcher',
        'pytorch',
        '--work-dir',
        cfg.work_dir,
    ]
    print(f'{nproc} processes x {threads} thread(s): {" ".join(cmd)}', flush=True)
    status = subprocess.run(cmd, env=env).returncode
    if status != 0:
        raise RuntimeError(f'distributed training failed with status {status} (log above)')
    epochs = cfg.train_cfg.max_epochs
    return osp.join(cfg.work_dir, f'epoch_{epochs}.pth'), _last_val_metrics(cfg.work_dir, epochs)


def evaluate(cfg: Config, checkpoint: str) -> Dict[str, float]:
    """COCO bbox metrics of ``checkpoint`` on the val split."""
    cfg = cfg.copy()
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.log_level = 'WARNING'  # the runner's build log was shown during training
    runner = Runner.from_cfg(cfg)
    return runner.test()


def draw(cfg_path: str, cfg: Config, checkpoint: str, num_draw: int, out_dir: str) -> str:
    """Draw detections on the first val images through ``tools/infer.py``; returns the JSON path."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import infer  # tools/infer.py

    img_dir = osp.join(cfg.test_dataloader.dataset.data_root, 'val')
    images = sorted(os.listdir(img_dir))[:num_draw]
    pick = osp.join(out_dir, 'inputs')
    os.makedirs(pick, exist_ok=True)
    for name in images:
        link = osp.join(pick, name)
        if not osp.lexists(link):
            os.symlink(osp.abspath(osp.join(img_dir, name)), link)
    dumped = osp.join(out_dir, 'demo_config.py')
    cfg.dump(dumped)
    status = infer.main([pick, dumped, checkpoint, '--out-dir', out_dir, '--score-thr', '0.3'])
    if status != 0:
        raise RuntimeError(f'tools/infer.py failed with status {status}')
    return osp.join(out_dir, 'detections.json')


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; returns the exit status."""
    args = parse_args(argv)
    start = time.perf_counter()
    _step(1, f'dataset in {args.data_root}')
    try:
        dataset = generate_synthetic_coco(
            args.data_root,
            num_train=args.num_train,
            num_val=args.num_val,
            workers=min(2, os.cpu_count() or 1),
        )
        cfg = build_config(args)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    nproc = args.nproc if args.nproc is not None else min(2, os.cpu_count() or 1)
    if nproc < 1:
        print(f'error: --nproc must be at least 1, got {nproc}', file=sys.stderr)
        return 2
    fingerprint = _fingerprint(cfg, dataset, nproc)
    checkpoint = None if args.retrain else _finished_run(args.work_dir, fingerprint)
    metrics = None
    if checkpoint is not None:
        _step(2, f'training: already done, reusing {checkpoint} (--retrain to train again)')
    else:
        epochs = cfg.train_cfg.max_epochs
        _step(2, f'training {epochs} epochs on CPU, logs in {args.work_dir}')
        checkpoint, metrics = train(cfg) if nproc == 1 else train_distributed(cfg, nproc)
        with open(osp.join(args.work_dir, DONE_FILE), 'w') as f:
            json.dump(dict(fingerprint=fingerprint, checkpoint=checkpoint), f)
    train_end = time.perf_counter()
    if metrics is None:
        _step(3, f'evaluating {checkpoint} on the val split (pycocotools)')
        metrics = evaluate(cfg, checkpoint)
    else:
        _step(
            3,
            f'evaluation: {checkpoint} was evaluated on the val split (pycocotools) '
            'at the end of training; metrics above',
        )
    metrics_path = osp.join(args.work_dir, 'demo_metrics.json')
    with open(metrics_path, 'w') as f:
        json.dump(dict(checkpoint=checkpoint, metrics=metrics), f, indent=1)
    _step(4, f'drawing detections on {args.num_draw} val images')
    infer_dir = osp.join(args.work_dir, 'infer')
    det_json = draw(args.config, cfg, checkpoint, args.num_draw, infer_dir)
    total = time.perf_counter() - start
    print(
        '\n'.join(
            [
                '',
                '==== demo finished ====',
                f'bbox mAP@[.5:.95] on val: {metrics.get("coco/bbox_mAP", float("nan")):.3f}  '
                f'(mAP@.5 {metrics.get("coco/bbox_mAP_50", float("nan")):.3f}, '
                f'small/medium/large {metrics.get("coco/bbox_mAP_s", float("nan")):.3f}/'
                f'{metrics.get("coco/bbox_mAP_m", float("nan")):.3f}/'
                f'{metrics.get("coco/bbox_mAP_l", float("nan")):.3f})',
                f'dataset:          {osp.abspath(args.data_root)}',
                f'checkpoint:       {osp.abspath(checkpoint)}',
                f'metrics:          {osp.abspath(metrics_path)}',
                f'drawn detections: {osp.abspath(osp.join(infer_dir, "vis"))}',
                f'detections JSON:  {osp.abspath(det_json)}',
                f'time: {total:.0f} s in all, {train_end - start:.0f} s up to the end of training',
            ]
        ),
        flush=True,
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
