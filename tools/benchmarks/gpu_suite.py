"""``gpu-suite``: the one-shot GPU benchmark suite, ours vs mmdet's own SSD, one JSON.

Run by ``tools/benchmarks/gpu_suite.sh`` (which first installs the OpenMMLab
wheels on a bare GPU machine); the steps and the JSON: ``docs/benchmarks_gpu.md``.
Each step runs in a fresh process (``_gpu_steps.py``) under its own time limit; a
step that fails or runs out of time keeps the rows it finished, and the JSON is
rewritten after every step. ``--dry-run`` runs every step with tiny sizes on the
CPU, so that the one GPU call does not fail on a typo.

Example::

    python tools/benchmark.py gpu-suite --dry-run --out outputs/gpu_suite/gpu_suite.json
"""

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

from . import model
from ._common import markdown_table

BENCHMARK = Path(__file__).resolve().parents[1] / 'benchmark.py'
STEPS = ('env', 'sync', 'train', 'infer', 'data', 'loss')
# Time limit (s) of each step on the GPU machine (docs/benchmarks_gpu.md: what each should take).
LIMIT_S = dict(env=60, sync=90, train=200, infer=100, data=90, loss=90)
DRY_LIMIT_S = 300  # every step of the dry run (a loaded 2-core CPU)
GOALS = dict(train_speedup=1.3, train_moonshot=2.0, infer_speedup=1.3)
NVIDIA_IMG_S = 725.0
NVIDIA_NOTE = (
    "NVIDIA's published SSD300 v1.1 training throughput (DeepLearningExamples, PyTorch): "
    '725 img/s, ResNet-50 backbone, one A100, AMP, as cited in issue 18. Ours is VGG16 '
    'SSD300, one train step on batch tensors already on the device (no data loading), '
    'fp16 autocast without a GradScaler.'
)
METHOD = dict(
    timing=(
        'median of the timed iterations after one warm-up iteration, torch.cuda.synchronize() '
        'around each; per setting, ours and mmdet (alternating which runs first), each freshly '
        'built (the plugin state dict loaded into the mmdet model); cuDNN benchmark off'
    ),
    train=(
        'tools/benchmarks/model.py measure("train"): data_preprocessor, forward, targets + '
        'loss, backward, SGD step (momentum 0.9) on demo_mm_inputs (8 random boxes per '
        'image); AMP = torch.autocast fp16 (bf16 on CPU), no GradScaler; '
        'channels_last = ssd_plugin.engine.to_channels_last on both sides'
    ),
    infer=(
        'tools/benchmarks/model.py measure("infer"): data_preprocessor, forward, decoding, '
        'score threshold, NMS (stand-in), under torch.no_grad(); agreement = share of '
        'detections matched one-to-one (same label, IoU > 0.9)'
    ),
    peak_memory=(
        'torch.cuda.max_memory_allocated() over the timed steps, reset after the model and '
        'batch are on the device: weights, batch, activations, gradients, momentum '
        '(CPU dry run: growth of max RSS)'
    ),
    loss=(
        'tools/benchmarks/loss.py run(): loss_by_feat forward + backward on the same head '
        'outputs and COCO-like ground truth (1-15 objects, 80 classes), interleaved, median'
    ),
    data=(
        'tools/benchmarks/pipeline.py pipelines (mmdet vs ssd_plugin with lazy Expand) over '
        'its synthetic 640x480 JPEGs, torch DataLoader (fork, pseudo_collate, batch 32, '
        'OpenCV threads 0 per worker); images/s after the first `workers` batches'
    ),
    sync=(
        'ours, SSD300: data preprocessor (host-to-device copies) first, then forward, loss, '
        'backward and SGD step under torch.cuda.set_sync_debug_mode("error") after a warm-up '
        'step; synchronising calls per source line in "warn" mode for ours and mmdet'
    ),
)


def plan(dry_run: bool) -> Dict[str, Dict]:
    """Settings of every step: the GPU sizes, or tiny ones for the CPU dry run."""
    data = dict(pipelines=['mmdet', 'ssd_plugin (lazy Expand)'], batch=2 if dry_run else 32)
    if dry_run:
        # SSDLite (MobileNetV2) instead of the VGG16 SSDs: the same code at a tenth of the
        # CPU time; the SSD300/SSD512 configs are built and checked by tests/test_configs.py.
        # fp32 only: CPU autocast is bf16, emulated on many CPUs (seconds a step).
        train = dict(iters=1, rows=[dict(model='ssdlite', batch=2, amp=False, channels_last=True)])
        return dict(
            env={},
            sync=dict(model='ssdlite', batch=2),
            train=train,
            infer=dict(iters=1, rows=[dict(model='ssdlite', batch=2, amp=False)]),
            data=dict(data, workers=[1, 2], num_images=4, width=96, height=64, length=12),
            loss=dict(sizes=[300], batches=[2], repeat=1),
        )
    models = ('ssd300', 'ssd512')
    train_rows = [
        dict(model=name, batch=32, amp=amp, channels_last=cl)
        for name in models
        for amp in (True, False)
        for cl in (False, True)
    ]
    infer_rows = [
        dict(model=name, batch=batch, amp=amp)
        for name in models
        for batch, amp in ((32, False), (32, True), (1, False))
    ]
    return dict(
        env={},
        sync=dict(model='ssd300', batch=32),
        train=dict(iters=6, rows=train_rows),
        infer=dict(iters=10, rows=infer_rows),
        data=dict(data, workers=[8, 16], num_images=256, width=640, height=480, length=2560),
        loss=dict(sizes=[300, 512], batches=[8, 32], repeat=10),
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        'gpu-suite', help='the one-shot GPU suite (train, infer, loss, data, sync) to one JSON'
    )
    parser.add_argument('--dry-run', action='store_true', help='every step, tiny sizes, CPU')
    parser.add_argument('--out', default='outputs/gpu_suite/gpu_suite.json', help='results JSON')
    parser.add_argument(
        '--budget-s',
        type=float,
        default=None,
        help='seconds for all steps (default: 420 on the GPU, 1200 in the dry run)',
    )
    parser.add_argument('--steps', nargs='+', choices=STEPS, default=list(STEPS))
    parser.add_argument('--install-json', help='install report of gpu_suite.sh, embedded')
    parser.add_argument('--step', choices=STEPS, help=argparse.SUPPRESS)  # child process
    parser.add_argument('--step-out', help=argparse.SUPPRESS)
    parser.set_defaults(func=main)


def _utc() -> str:
    return datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _write_json(path: Path, data: Dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _child(args: argparse.Namespace) -> Dict:
    """The step ``args.step`` in this process, its result (partial after each row) in
    ``args.step_out``."""
    import torch

    from ._gpu_steps import STEPS as STEP_FNS

    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit('gpu-suite: no CUDA device (use --dry-run on a CPU machine)')
    if args.dry_run:
        # One thread: on a loaded CPU, OpenMP barriers across descheduled threads
        # make each parallel op many times slower (an SSDLite step took 40 s).
        torch.set_num_threads(1)
    out = Path(args.step_out)

    def emit(result: Dict, complete: bool = False) -> None:
        _write_json(out, dict(step=args.step, complete=complete, result=result))

    settings = plan(args.dry_run)[args.step]
    result = STEP_FNS[args.step](settings, 'cpu' if args.dry_run else 'cuda', emit)
    emit(result, complete=True)
    return result


def _run_step(name: str, limit_s: float, dry_run: bool, workdir: Path) -> Dict:
    """Run one step in a fresh process, its output relayed as ``[name] line``; kill its
    process group after ``limit_s``."""
    out = workdir / f'{name}.json'
    cmd = [sys.executable, str(BENCHMARK), 'gpu-suite', '--step', name, '--step-out', str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd + ['--dry-run'] * dry_run,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    timer = threading.Timer(limit_s, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    tail: collections.deque = collections.deque(maxlen=40)
    for line in proc.stdout:  # until the step and its workers are gone
        tail.append(line.rstrip())
        print(f'[{name}] {line}', end='', flush=True)
    returncode: Optional[int] = proc.wait()
    timed_out = not timer.is_alive() and returncode == -signal.SIGKILL
    timer.cancel()
    if timed_out:
        status, returncode = 'timeout', None
    else:
        status = 'ok' if returncode == 0 else 'error'
    entry: Dict = dict(
        status=status,
        seconds=round(time.perf_counter() - start, 1),
        limit_s=round(limit_s, 1),
        returncode=returncode,
        complete=False,
    )
    if out.exists():
        saved = json.loads(out.read_text())
        entry.update(complete=saved['complete'], result=saved['result'])
    if status != 'ok':
        entry['log_tail'] = list(tail)
    return entry


def _rows(steps: Dict, name: str) -> List[Dict]:
    """The rows of step ``name`` that were measured (not those with an error)."""
    rows = steps.get(name, {}).get('result', {}).get('rows', [])
    return [r for r in rows if 'error' not in r]


def summarize(steps: Dict, settings: Dict) -> Dict:
    """The goals of issue 18 against what was measured (None where not measured)."""

    def pick(row: Dict, *keys: str) -> Dict:
        return {k: row[k] for k in keys}

    def met(rows: List[Dict], goal: float) -> Optional[bool]:
        return all(r['speedup'] >= goal for r in rows) if rows else None

    big = max((r['batch'] for r in settings['train']['rows']), default=0)
    train = _rows(steps, 'train')
    amp = [r for r in train if r['amp'] and r['batch'] == big]
    best = {  # each side at its faster memory format
        name: max(r['ours_img_s'] for r in amp if r['model'] == name)
        / max(r['mmdet_img_s'] for r in amp if r['model'] == name)
        for name in sorted({r['model'] for r in amp})
    }
    big_i = max((r['batch'] for r in settings['infer']['rows']), default=0)
    infer = [r for r in _rows(steps, 'infer') if r['batch'] == big_i]
    ours_img_s = max((r['ours_img_s'] for r in amp if r['model'] == 'ssd300'), default=None)
    loaders = [r for r in _rows(steps, 'data') if r['pipeline'].startswith('ssd_plugin')]
    return dict(
        train_step_amp=dict(
            batch=big,
            goal=GOALS['train_speedup'],
            moonshot=GOALS['train_moonshot'],
            speedups=[pick(r, 'model', 'channels_last', 'speedup') for r in amp],
            best_vs_best=best,
            met=met(amp, GOALS['train_speedup']),
            moonshot_met=met(amp, GOALS['train_moonshot']),
        ),
        infer=dict(
            batch=big_i,
            goal=GOALS['infer_speedup'],
            speedups=[pick(r, 'model', 'amp', 'speedup', 'agreement') for r in infer],
            met=met(infer, GOALS['infer_speedup']),
        ),
        ssd300_train_img_s_vs_nvidia=dict(
            ours_img_s=ours_img_s,
            nvidia_img_s=NVIDIA_IMG_S,
            ratio=ours_img_s / NVIDIA_IMG_S if ours_img_s else None,
            note=NVIDIA_NOTE,
        ),
        data_feeds_gpu=[
            dict(
                workers=r['workers'],
                loader_img_s=r['img_s'],
                train_img_s=ours_img_s,
                feeds=r['img_s'] >= ours_img_s if ours_img_s else None,
            )
            for r in loaders
        ],
        loss_without_host_sync=steps.get('sync', {}).get('result', {}).get('passed'),
        peak_memory_mb=[
            dict(
                pick(r, 'model', 'amp', 'channels_last'),
                ours=r['ours_peak_mb'],
                mmdet=r['mmdet_peak_mb'],
            )
            for r in train
        ],
    )


# The tables printed at the end, per step.
COLUMNS = dict(
    train=[c for c in model.COLUMNS['train'] if c != 'device'],
    infer=['model', 'batch', 'amp', 'mmdet_ms', 'ours_ms', 'speedup', 'agreement'],
    loss=['input', 'batch', 'mmdet_ms', 'ours_ms', 'speedup', 'loss_diff'],
    data=['pipeline', 'workers', 'img_s'],
)


def _tables(results: Dict) -> str:
    status = ['status', 'seconds', 'limit_s']
    steps = [dict(step=k, **{c: v.get(c) for c in status}) for k, v in results['steps'].items()]
    parts = [markdown_table(steps, ['step', *status])]
    for name, columns in COLUMNS.items():
        rows = _rows(results['steps'], name)
        if rows:
            parts.append(f'{name}\n\n' + markdown_table(rows, columns))
    return '\n\n'.join(parts)


def main(args: argparse.Namespace) -> Dict:
    if args.step:
        return _child(args)
    start = time.perf_counter()
    budget = args.budget_s if args.budget_s is not None else (1200 if args.dry_run else 420)
    settings = plan(args.dry_run)
    out = Path(args.out)
    results: Dict = dict(
        suite='ssd_plugin GPU suite (issue 18)',
        dry_run=args.dry_run,
        started_utc=_utc(),
        budget_s=budget,
        goals=dict(GOALS, nvidia_img_s=NVIDIA_IMG_S),
        method=METHOD,
        plan=settings,
        install=None,
        steps={},
    )
    if args.install_json and Path(args.install_json).exists():
        results['install'] = json.loads(Path(args.install_json).read_text())
    _write_json(out, results)
    with tempfile.TemporaryDirectory(prefix='gpu_suite_') as tmp:
        for name in args.steps:
            remaining = budget - (time.perf_counter() - start) - 5
            limit = min(DRY_LIMIT_S if args.dry_run else LIMIT_S[name], remaining)
            if limit < 10:
                results['steps'][name] = dict(status='skipped', reason='time budget spent')
            else:
                print(f'== {name} (limit {limit:.0f} s)', flush=True)
                results['steps'][name] = _run_step(name, limit, args.dry_run, Path(tmp))
                print(f'== {name}: {results["steps"][name]["status"]}', flush=True)
            results['summary'] = summarize(results['steps'], settings)
            results['elapsed_s'] = round(time.perf_counter() - start, 1)
            _write_json(out, results)
    results['finished_utc'] = _utc()
    _write_json(out, results)
    print('\n' + _tables(results))
    print('\nsummary:', json.dumps(results['summary'], indent=1, default=str))
    print(f'results written to {out}')
    return results
