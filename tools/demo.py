"""The demo: generate a dataset, train a small SSD on CPU, evaluate it, draw detections.

Examples::

    python tools/demo.py                      # the README's first command runs this
    python tools/demo.py --epochs 2 --work-dir work_dirs/demo_short
    python tools/demo.py --time-budget 900    # fit the epochs to 15 minutes
    python tools/demo.py --retrain            # train again even if a finished run exists

Steps, each printed as it starts:

1. generate the synthetic COCO-format dataset (``tools/generate_dataset.py``)
   in ``--data-root``, unless it is there already;
2. train ``configs/demo/ssd_cspdarknet_synthetic_cpu.py`` (the log shows the
   progress and an ETA), unless ``--work-dir`` holds a finished run of the
   same settings. Without ``--epochs``, the first training steps are timed
   (``TimeBudgetHook``, in the training processes) and the run trains the
   most epochs, up to the config's, that fit ``--time-budget`` (600 s from
   ``--started-at``, which ``make demo`` sets to its own start), with the
   schedule scaled to them; it prints ``time budget ... -> N epochs, expected
   finish at ...``. The weights depend only on the epochs and the seed:
   ``--epochs N`` gives the same run;
3. evaluate the final checkpoint on the val split with pycocotools (COCO
   bbox mAP, printed and saved to ``WORK_DIR/demo_metrics.json``); after a
   training run this is the validation that training ran on its last epoch;
4. draw the detections of the first ``--num-draw`` val images into
   ``WORK_DIR/infer/vis/`` and write ``WORK_DIR/infer/detections.json``.

The demo ends with a results block: bbox mAP, AP50 and AP_small next to the
paper's COCO figures, the time against the budget, and the paths of the
drawn detections, the loss curve (``WORK_DIR/loss_curve.png``, drawn with
``tools/analysis_tools/analyze_logs.py``) and everything else written.
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

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.apis.inference import infer_images
from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool
from ssd_plugin.apis.synthetic_data import DEFAULT_NUM_VAL, generate_synthetic_coco
from ssd_plugin.apis.time_budget_hook import PLAN_FILE, read_plan
from ssd_plugin.apis.time_budget_plan import PROBE_STEPS
from ssd_plugin.apis.tool_args import add_cfg_options_arg
from ssd_plugin.apis.tool_config import load_tool_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo', 'ssd_cspdarknet_synthetic_cpu.py')
DONE_FILE = 'demo_done.json'
# Training images: the first 3000 of the generator's 10000 (image i is the same in any
# size of set). The recipe sees each a few times; generating them takes a third of the time.
DEMO_NUM_TRAIN = 3000
DEFAULT_TIME_BUDGET = 600  # seconds: `make demo`, creating .venv included, in 10 minutes
TIME_BUDGET_MODULE = 'ssd_plugin.apis.time_budget_hook'  # registers TimeBudgetHook
LOSS_CURVE = 'loss_curve.png'  # in the work directory, drawn after training
# The paper's COCO test-dev results (arXiv 1512.02325, Table 5: the models with the
# expansion augmentation): mAP@[.5:.95], AP50, AP_small. Another dataset, for scale only.
PAPER_COCO = {'SSD300*': (0.251, 0.431, 0.066), 'SSD512*': (0.288, 0.485, 0.109)}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train and evaluate SSD on generated data')
    parser.add_argument('--config', default=DEMO_CONFIG, help='the demo config')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='logs, checkpoints, outputs')
    parser.add_argument('--data-root', default='data/synthetic', help='the generated dataset')
    parser.add_argument(
        '--num-train', type=int, default=DEMO_NUM_TRAIN, help='training images to generate'
    )
    parser.add_argument(
        '--num-val', type=int, default=DEFAULT_NUM_VAL, help='val images to generate'
    )
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='train this many epochs (the schedule scaled to them); default: the most, up to '
        "the config's, that fit --time-budget",
    )
    parser.add_argument(
        '--time-budget',
        type=float,
        default=DEFAULT_TIME_BUDGET,
        help='seconds from --started-at in which the demo should finish: the epochs are fitted '
        'to it from a few timed training steps (default: %(default)s)',
    )
    parser.add_argument(
        '--started-at',
        type=float,
        default=None,
        help='when the budget started, in seconds since the epoch (make demo passes its own '
        "start, so that creating .venv counts); default: the demo's start",
    )
    parser.add_argument('--num-draw', type=int, default=12, help='val images to draw')
    parser.add_argument('--retrain', action='store_true', help='train even if a run is done')
    parser.add_argument(
        '--nproc',
        type=int,
        default=None,
        help='training processes (torchrun, gloo; the CPU threads are split between them); '
        'default: 2 where there are 2+ cores, else 1 (in this process)',
    )
    add_cfg_options_arg(parser)
    return parser.parse_args(argv)


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
        options = {
            'train_cfg.max_epochs': epochs,
            'train_cfg.val_interval': epochs,
            'default_hooks.checkpoint.interval': epochs,
        }
        for i, scheduler in enumerate(cfg.param_scheduler):
            if scheduler.get('by_epoch', True):
                options[f'param_scheduler.{i}.end'] = epochs
                if 'T_max' in scheduler:
                    options[f'param_scheduler.{i}.T_max'] = epochs - scheduler.get('begin', 0)
        cfg.merge_from_dict(options)
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
    epochs = runner.train_loop.max_epochs  # a TimeBudgetHook may have set them
    final = last_val.metrics if last_val.epoch == epochs else None
    return osp.join(cfg.work_dir, f'epoch_{epochs}.pth'), final


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


def _training_command(cfg: Config, nproc: int) -> Tuple[List[str], Dict[str, str]]:
    """The command and environment that train ``cfg`` (dumped into its work_dir) with
    ``tools/train.py``: in ``nproc`` single-threaded processes through torchrun (gloo), or in
    one process with the default threads."""
    os.makedirs(cfg.work_dir, exist_ok=True)
    dumped = osp.join(cfg.work_dir, 'demo_train_config.py')
    cfg.dump(dumped)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
    train_py = osp.join(ROOT, 'tools', 'train.py')
    if nproc == 1:
        return [sys.executable, train_py, dumped, '--work-dir', cfg.work_dir], env
    env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 1) // nproc))
    cmd = [
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--standalone',  # a free local port, no MASTER_ADDR/PORT to set
        f'--nproc_per_node={nproc}',
        train_py,
        dumped,
        '--launcher',
        'pytorch',
        '--work-dir',
        cfg.work_dir,
    ]
    return cmd, env


def train_distributed(cfg: Config, nproc: int) -> Tuple[str, Optional[Dict[str, float]]]:
    """Train in ``nproc`` CPU processes, as ``tools/dist_train.sh`` does (torchrun, gloo).

    On a 2-core machine two single-threaded processes train about 1.7x faster
    than one process with two threads: the small convolutions of this model
    use two threads poorly, and each process takes half of every batch.

    Returns:
        As :func:`train`.
    """
    cmd, env = _training_command(cfg, nproc)
    print(f'{nproc} processes x {env["OMP_NUM_THREADS"]} thread(s): {" ".join(cmd)}', flush=True)
    status = subprocess.run(cmd, env=env).returncode
    if status != 0:
        raise RuntimeError(f'distributed training failed with status {status} (log above)')
    plan = read_plan(cfg.work_dir)  # the epochs a TimeBudgetHook set, if any
    epochs = plan['epochs'] if plan is not None else cfg.train_cfg.max_epochs
    return osp.join(cfg.work_dir, f'epoch_{epochs}.pth'), _last_val_metrics(cfg.work_dir, epochs)


def with_time_budget(cfg: Config, budget_s: float, started_at: float) -> Config:
    """``cfg`` with a :class:`~ssd_plugin.apis.time_budget_hook.TimeBudgetHook`: the first
    ``PROBE_STEPS`` training steps are timed, then the epochs set to fit the budget."""
    cfg = cfg.copy()
    imports = dict(cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False))
    imports['imports'] = list(imports.get('imports', [])) + [TIME_BUDGET_MODULE]
    hook = dict(type='ssd_plugin.TimeBudgetHook', budget_s=budget_s, started_at=started_at)
    cfg.custom_imports = imports
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
    return cfg


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


def plot_loss_curve(work_dir: str) -> Optional[str]:
    """Plot the training losses of the newest run in ``work_dir`` with the project's
    ``tools/analysis_tools/analyze_logs.py`` (mmdet's, in this process); returns the
    picture's path, or None (with the reason printed) if it could not be drawn."""
    out = osp.join(work_dir, LOSS_CURVE)
    keys = ['loss', 'loss_cls', 'loss_bbox']
    argv = ['plot_curve', work_dir, '--keys', *keys, '--legend', *keys]
    argv += ['--title', 'demo: training loss', '--out', out]
    try:
        run_mmdet_tool('analyze_logs', argv)
    except Exception as err:  # the picture is a by-product: say why, keep the results
        print(f'warning: no loss curve ({type(err).__name__}: {err})', file=sys.stderr)
        return None
    return out


def results_block(
    metrics: Dict[str, float], epochs: int, timing: str, paths: List[Tuple[str, Optional[str]]]
) -> str:
    """The lines that end the demo: the COCO metrics next to the paper's, the time, the
    pictures and files."""

    def metric(key: str) -> str:
        value = metrics.get(f'coco/bbox_{key}')
        return 'n/a' if value is None else f'{value:.3f}'

    plural = 's' if epochs != 1 else ''
    lines = [
        '',
        '==== demo finished ====',
        f'{"":<16}{"mAP@[.5:.95]":>13}{"AP50":>7}{"AP_small":>10}',
        f'{"this run (val)":<16}{metric("mAP"):>13}{metric("mAP_50"):>7}{metric("mAP_s"):>10}'
        f'   generated shapes, 128 px, {epochs} epoch{plural} from scratch on CPU',
    ]
    for name, (ap, ap50, ap_s) in PAPER_COCO.items():
        lines.append(
            f'{name:<16}{ap:>13.3f}{ap50:>7.3f}{ap_s:>10.3f}'
            '   COCO test-dev (Liu et al. 2016, Table 5), another task: for scale only'
        )
    lines.append(f'time: {timing}')
    lines += [f'{name + ":":<18}{osp.abspath(path)}' for name, path in paths if path]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; returns the exit status."""
    args = parse_args(argv)
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
                f'steps are timed to fit them to the time budget ({args.time_budget:.0f} s '
                f'from {time.strftime("%H:%M:%S", time.localtime(started_at))}; --epochs to '
                'choose)',
                flush=True,
            )
            plan_file = osp.join(args.work_dir, PLAN_FILE)
            if osp.isfile(plan_file):
                os.remove(plan_file)  # an earlier run's
            cfg = with_time_budget(base_cfg, args.time_budget, started_at)
        else:
            epochs = cfg.train_cfg.max_epochs
            print(f'training {epochs} epoch{"s" if epochs != 1 else ""}', flush=True)
        checkpoint, metrics = train(cfg) if nproc == 1 else train_distributed(cfg, nproc)
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


if __name__ == '__main__':
    sys.exit(main())
