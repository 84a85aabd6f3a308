"""The demo's steps (``tools/demo.py``): generate the dataset, train (in this
process, or in ``nproc`` processes launched as ``tools/dist_train.sh`` does,
with the epochs fitted to a time budget), evaluate, draw detections, report.

The training hands its final validation back through :class:`DemoValMetricsHook`,
which rank 0 of the training processes runs: the metrics of each validation go
to ``WORK_DIR/demo_val_metrics.json``.
"""

import argparse
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, Optional, Tuple

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import Runner

from ssd_plugin.apis.inference import infer_images
from ssd_plugin.apis.tool_config import load_tool_config
from ssd_plugin.registry import HOOKS
from synthetic_data import generate_synthetic_coco

from .demo_report import LOSS_CURVE, plot_loss_curve, results_block
from .time_budget_hook import PLAN_FILE, read_plan
from .time_budget_plan import PROBE_STEPS

__all__ = ['DemoValMetricsHook', 'build_config', 'run_demo']

DONE_FILE = 'demo_done.json'
VAL_METRICS_FILE = 'demo_val_metrics.json'
# The training processes import these (custom_imports) from tools/: they run tools/train.py,
# and Python searches a script's own folder first (tools/demo.py's for the 1-process run).
THIS_MODULE = 'ssd_demo.demo'  # registers DemoValMetricsHook
TIME_BUDGET_MODULE = 'ssd_demo.time_budget_hook'  # registers TimeBudgetHook


@HOOKS.register_module()
class DemoValMetricsHook(Hook):
    """Rank 0 writes the epoch and metrics of each validation to
    ``WORK_DIR/demo_val_metrics.json`` (the latest one stays)."""

    priority = 'LOWEST'

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            with open(osp.join(runner.work_dir, VAL_METRICS_FILE), 'w') as f:
                json.dump(dict(epoch=runner.epoch, metrics=metrics), f)


def _final_val_metrics(work_dir: str, epochs: int) -> Optional[Dict[str, float]]:
    """The metrics :class:`DemoValMetricsHook` wrote for the validation at ``epochs``."""
    path = osp.join(work_dir, VAL_METRICS_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    return record['metrics'] if record['epoch'] == epochs else None


def _step(number: int, text: str) -> None:
    print(f'\n[demo {number}/4] {text}', flush=True)


def build_config(args: argparse.Namespace, epochs: Optional[int] = None) -> Config:
    """The demo config with the command line applied, trained ``epochs`` epochs (default: the
    config's) with the schedule scaled to them."""
    options: Dict = {}
    data_root = args.data_root.rstrip('/') + '/'
    options['train_dataloader.dataset.data_root'] = data_root
    options['val_dataloader.dataset.data_root'] = data_root
    options['test_dataloader.dataset.data_root'] = data_root
    ann = osp.join(data_root, 'annotations', 'instances_val.json')
    options['val_evaluator.ann_file'] = ann
    options['test_evaluator.ann_file'] = ann
    options.update(args.cfg_options or {})
    cfg = load_tool_config(args.config, cfg_options=options, work_dir=args.work_dir)
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f'--epochs must be at least 1, got {epochs}')
        cfg.merge_from_dict(
            {
                'train_cfg.max_epochs': epochs,
                'train_cfg.val_interval': epochs,
                'default_hooks.checkpoint.interval': epochs,
            }
        )
        schedulers = []
        for scheduler in cfg.param_scheduler:
            if scheduler.get('by_epoch', True):
                if scheduler.get('begin', 0) >= epochs:
                    # It would never step (as in a TimeBudgetHook run of that many
                    # epochs), and mmengine refuses a scheduler with end == begin.
                    continue
                scheduler = dict(scheduler, end=epochs)
                if 'T_max' in scheduler:
                    scheduler['T_max'] = epochs - scheduler.get('begin', 0)
            schedulers.append(scheduler)
        cfg.param_scheduler = schedulers
    return cfg


def _fingerprint(cfg: Config, dataset: Dict, nproc: int) -> str:
    """A hash of what decides the trained weights but the epochs: the config as given,
    the dataset parameters, the processes."""
    text = cfg.pretty_text + json.dumps(dataset['params'], sort_keys=True) + f'nproc={nproc}'
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _finished_run(work_dir: str, fingerprint: str, epochs: Optional[int]) -> Optional[Dict]:
    """The record (``checkpoint``, ``epochs``, ``budget``) of a finished run in ``work_dir``
    with this fingerprint: of ``epochs`` epochs, or with ``epochs=None`` one whose epochs
    a time budget chose."""
    path = osp.join(work_dir, DONE_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        done = json.load(f)
    ckpt = done.get('checkpoint')
    if done.get('fingerprint') != fingerprint or not ckpt or not osp.isfile(ckpt):
        return None
    if epochs is None and not done.get('budget'):
        return None
    if epochs is not None and done.get('epochs') != epochs:
        return None
    return done


def _with_hook(cfg: Config, module: str, hook: Dict) -> Config:
    """``cfg`` with ``hook`` in its ``custom_hooks`` and ``module``, which registers it, in
    its ``custom_imports`` (the training processes import it)."""
    cfg = cfg.copy()
    imports = dict(cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False))
    imports['imports'] = list(imports.get('imports', [])) + [module]
    cfg.custom_imports = imports
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
    return cfg


def train(cfg: Config, nproc: int, train_py: str) -> Tuple[str, Optional[Dict[str, float]]]:
    """Train ``cfg`` in this process (``nproc=1``), or in ``nproc`` single-threaded CPU
    processes of ``train_py`` (``tools/train.py``) launched as ``tools/dist_train.sh``
    does (torchrun, gloo).

    On a 2-core machine two single-threaded processes train about 1.7x faster
    than one process with two threads: the small convolutions of this model
    use two threads poorly, and each process takes half of every batch.

    Returns:
        The final checkpoint's path, and the COCO metrics of the validation
        run on those final weights (None when the last epoch did not validate).
    """
    cfg = _with_hook(cfg, THIS_MODULE, dict(type='ssd_plugin.DemoValMetricsHook'))
    os.makedirs(cfg.work_dir, exist_ok=True)
    if osp.isfile(osp.join(cfg.work_dir, VAL_METRICS_FILE)):
        os.remove(osp.join(cfg.work_dir, VAL_METRICS_FILE))  # an earlier run's
    if nproc == 1:
        runner = Runner.from_cfg(cfg)
        runner.train()
        epochs = runner.train_loop.max_epochs  # a TimeBudgetHook may have set them
    else:
        dumped = osp.join(cfg.work_dir, 'demo_train_config.py')
        cfg.dump(dumped)
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // nproc)))
        cmd = [sys.executable, '-m', 'torch.distributed.run']
        cmd += ['--standalone', f'--nproc_per_node={nproc}']  # a free local port
        cmd += [train_py, dumped, '--launcher', 'pytorch', '--work-dir', cfg.work_dir]
        threads = env['OMP_NUM_THREADS']
        print(f'{nproc} processes x {threads} thread(s): {" ".join(cmd)}', flush=True)
        status = subprocess.run(cmd, env=env).returncode
        if status != 0:
            raise RuntimeError(f'distributed training failed with status {status} (log above)')
        plan = read_plan(cfg.work_dir)  # the epochs a TimeBudgetHook set, if any
        epochs = plan['epochs'] if plan is not None else cfg.train_cfg.max_epochs
    checkpoint = osp.join(cfg.work_dir, f'epoch_{epochs}.pth')
    return checkpoint, _final_val_metrics(cfg.work_dir, epochs)


def evaluate(cfg: Config, checkpoint: str) -> Dict[str, float]:
    """COCO bbox metrics of ``checkpoint`` on the val split."""
    cfg = cfg.copy()
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.log_level = 'WARNING'  # the runner's build log was shown during training
    runner = Runner.from_cfg(cfg)
    return runner.test()


def draw(cfg: Config, checkpoint: str, num_draw: int, out_dir: str) -> str:
    """Draw detections on the first val images (as ``tools/infer.py``); returns the JSON path."""
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
    return infer_images(pick, dumped, checkpoint, out_dir=out_dir, score_thr=0.3)


def run_demo(args: argparse.Namespace, train_py: str) -> int:
    """Run the demo of ``tools/demo.py``'s arguments; returns the exit status.

    Args:
        args: ``tools/demo.py``'s parsed command line.
        train_py: ``tools/train.py``, which the training processes run when
            ``args.nproc`` > 1.
    """
    start = time.perf_counter()
    started_at = args.started_at if args.started_at is not None else time.time()
    if args.time_budget <= 0:
        print(f'error: --time-budget must be positive, got {args.time_budget}', file=sys.stderr)
        return 2
    _step(1, f'dataset in {args.data_root}')
    try:
        dataset = generate_synthetic_coco(
            args.data_root,
            num_train=args.num_train,
            num_val=args.num_val,
            train_objects=tuple(args.train_objects),
            workers=min(2, os.cpu_count() or 1),
        )
        base_cfg = build_config(args)  # the config's own epochs
        cfg = base_cfg if args.epochs is None else build_config(args, args.epochs)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    nproc = args.nproc if args.nproc is not None else min(2, os.cpu_count() or 1)
    if nproc < 1:
        print(f'error: --nproc must be at least 1, got {nproc}', file=sys.stderr)
        return 2
    fingerprint = _fingerprint(base_cfg, dataset, nproc)
    done = None if args.retrain else _finished_run(args.work_dir, fingerprint, args.epochs)
    metrics, plan = None, None
    if done is not None:
        checkpoint = done['checkpoint']
        _step(
            2,
            f'training: already done ({done["epochs"]} epochs), reusing {checkpoint} '
            '(--retrain to train again)',
        )
    else:
        _step(2, f'training on CPU, logs in {args.work_dir}')
        if args.epochs is None:
            print(
                f'training up to {cfg.train_cfg.max_epochs} epochs: the first {PROBE_STEPS} '
                f'steps (at a smaller first input, the first epoch) are timed to fit them to '
                f'the time budget '
                f'({args.time_budget:.0f} s '
                f'from {time.strftime("%H:%M:%S", time.localtime(started_at))}; --epochs to '
                'choose)',
                flush=True,
            )
            plan_file = osp.join(args.work_dir, PLAN_FILE)
            if osp.isfile(plan_file):
                os.remove(plan_file)  # an earlier run's
            budget = dict(
                type='ssd_plugin.TimeBudgetHook', budget_s=args.time_budget, started_at=started_at
            )
            cfg = _with_hook(base_cfg, TIME_BUDGET_MODULE, budget)
        else:
            epochs = cfg.train_cfg.max_epochs
            print(f'training {epochs} epoch{"s" if epochs != 1 else ""}', flush=True)
        checkpoint, metrics = train(cfg, nproc, train_py)
        if args.epochs is None:
            plan = read_plan(args.work_dir)
            if plan is None:
                raise RuntimeError(f'the training wrote no {PLAN_FILE} in {args.work_dir}')
            cfg = build_config(args, plan['epochs'])  # what --epochs N trains: the same run
        epochs = cfg.train_cfg.max_epochs
        plot_loss_curve(args.work_dir)
        with open(osp.join(args.work_dir, DONE_FILE), 'w') as f:
            record = dict(
                fingerprint=fingerprint,
                checkpoint=checkpoint,
                epochs=epochs,
                budget=args.epochs is None,
            )
            json.dump(record, f)
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
    det_json = draw(cfg, checkpoint, args.num_draw, infer_dir)
    curve = osp.join(args.work_dir, LOSS_CURVE)
    curve = curve if osp.isfile(curve) else None
    total = time.perf_counter() - start
    if plan is not None:
        timing = (
            f'{time.time() - started_at:.0f} s of the {args.time_budget:.0f} s budget '
            f'(expected {plan["expected_s"]:.0f} s; {plan["epochs"]} of {plan["max_epochs"]} '
            f'epochs at {plan["step_s"] * 1000:.0f} ms a step)'
        )
    else:
        timing = 'the epochs were not fitted to a budget (given, or the training reused)'
    print(
        results_block(
            metrics,
            epochs=epochs if done is None else done['epochs'],
            timing=f'{total:.0f} s in all, {train_end - start:.0f} s up to the end of training; '
            + timing,
            epoch_splits=cfg.train_dataloader.get('sampler', {}).get('splits', 1),
            paths=[
                ('drawn detections', osp.join(infer_dir, 'vis')),
                ('loss curve', curve),
                ('detections JSON', det_json),
                ('metrics', metrics_path),
                ('checkpoint', checkpoint),
                ('dataset', args.data_root),
            ],
        ),
        flush=True,
    )
    return 0
