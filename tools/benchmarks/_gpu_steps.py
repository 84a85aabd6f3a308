"""The steps of ``gpu-suite`` (``gpu_suite.py``), each run in a process of its own.

A step takes its settings (its entry of :func:`gpu_suite.plan`), the device and
``emit``, which it calls with the partial result after each row, so that a step
stopped by its time limit still leaves the rows it finished. The measurements are
the sub-commands' own: ``model.py``, ``loss.py`` and ``pipeline.py``.
"""

import gc
import importlib
import os
import platform
import subprocess
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List

import torch

from . import loss, model, pipeline
from ._common import machine_info

Emit = Callable[[Dict], None]
ROOT = Path(__file__).resolve().parents[2]
NMS_STAND_IN = (
    '{kernel} replaces mmcv.ops.nms inside mmcv.ops.batched_nms, on both sides: NMS on '
    'class-offset boxes, as torchvision.ops.batched_nms does (mmcv built with CPU ops only '
    'has no CUDA NMS)'
)


def use_nms_stand_in() -> str:
    """Route mmcv's ``batched_nms`` through torchvision's NMS, for every caller.

    Both heads (the plugin's and mmdet's ``BaseDenseHead``) call
    ``mmcv.ops.batched_nms``, which offsets the boxes by class and looks the
    single-class op up by name (``eval('nms')``) in ``mmcv.ops.nms``: replacing
    that one module global gives both sides the same NMS. Without torchvision
    (the CPU dry run's environment) mmcv's own op runs behind the same wrapper.

    Returns:
        What runs, for the JSON.
    """
    # ``mmcv.ops.nms`` the attribute is the function; the module is in sys.modules.
    nms_module = importlib.import_module('mmcv.ops.nms')
    try:
        from torchvision.ops import nms as kernel

        name = 'torchvision.ops.nms'
    except ImportError:
        original = nms_module.nms
        name = 'mmcv.ops.nms (torchvision is not installed)'

        def kernel(boxes, scores, iou_threshold):
            return original(boxes, scores, iou_threshold)[1]

    def nms(boxes, scores, iou_threshold, offset=0, score_threshold=0, max_num=-1):
        if offset != 0 or score_threshold > 0 or max_num > 0:
            raise NotImplementedError(
                'NMS stand-in: offset, score_threshold and max_num are not supported'
            )
        keep = kernel(boxes.float(), scores.float(), float(iou_threshold))
        return torch.cat([boxes[keep], scores[keep, None]], 1), keep

    nms_module.nms = nms
    return NMS_STAND_IN.format(kernel=name)


def nms_stand_in_check(num: int = 300, seed: int = 0) -> Dict:
    """mmcv's ``batched_nms`` on CPU boxes with its own NMS, then with the stand-in.

    Installs the stand-in (see :func:`use_nms_stand_in`).

    Returns:
        ``stand_in`` (what runs), ``kept`` (boxes kept by mmcv's NMS) and
        ``same_keep`` (the stand-in keeps the same boxes in the same order).
    """
    from mmcv.ops import batched_nms

    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 20 + torch.rand(num, 2, generator=g) * 60], 1)
    scores = torch.rand(num, generator=g)
    labels = torch.randint(0, 5, (num,), generator=g)
    cfg = dict(type='nms', iou_threshold=0.45)
    dets_ref, keep_ref = batched_nms(boxes, scores, labels, cfg)
    stand_in = use_nms_stand_in()
    dets, keep = batched_nms(boxes, scores, labels, cfg)
    same = torch.equal(keep, keep_ref) and torch.allclose(dets, dets_ref)
    return dict(stand_in=stand_in, kept=len(keep_ref), same_keep=bool(same))


def _free(device: str, result=None):
    """Release the memory of what is gone (``result`` passes through)."""
    gc.collect()
    if device.startswith('cuda'):
        torch.cuda.empty_cache()
    return result


def _error(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return ''.join(lines).strip()[-2000:]


def _version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception as exc:  # a missing package is a result here, not a failure
        return f'unavailable ({type(exc).__name__}: {exc})'


# --------------------------------------------------------------------- env
def step_env(cfg: Dict, device: str, emit: Emit) -> Dict:
    """Versions, device, CPU, and whether mmcv's ops (NMS) run on the device."""
    info: Dict = dict(machine=machine_info(), platform=platform.platform())
    info['versions'] = {
        m: _version(m)
        for m in ('torch', 'torchvision', 'numpy', 'cv2', 'mmcv', 'mmengine', 'mmdet', 'ssd_plugin')
    }
    info['cpu_count'] = os.cpu_count()
    if hasattr(os, 'sched_getaffinity'):
        info['cpu_affinity'] = len(os.sched_getaffinity(0))
    try:
        commit = subprocess.run(
            ['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        info['git_commit'] = commit.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info['git_commit'] = None
    info['cuda'] = dict(
        available=torch.cuda.is_available(),
        torch_cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
    )
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(device)
        info['cuda'].update(
            device=props.name,
            capability=f'{props.major}.{props.minor}',
            memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            device_count=torch.cuda.device_count(),
        )
    try:
        ext = importlib.import_module('mmcv._ext')
        info['mmcv_ops'] = 'stub' if getattr(ext, 'MMCV_OPS_STUB', False) else 'compiled'
    except Exception as exc:
        info['mmcv_ops'] = f'unavailable ({_error(exc)})'
    emit(info)
    # Does mmcv's own NMS run on the device? (It cannot on CUDA with CPU-only ops.)
    try:
        from mmcv.ops import nms

        boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]], device=device)
        nms(boxes, torch.tensor([0.9, 0.8], device=device), 0.5)
        info['mmcv_nms_on_device'] = 'ok'
    except Exception as exc:
        info['mmcv_nms_on_device'] = f'fails: {_error(exc)[:300]}'
    try:
        info['nms_stand_in'] = nms_stand_in_check()
    except Exception as exc:  # no compiled mmcv NMS (stub), for instance
        info['nms_stand_in'] = dict(stand_in=use_nms_stand_in(), check=f'not run: {_error(exc)}')
    return info


# -------------------------------------------------------------------- sync
def _site(frames: List[traceback.FrameSummary]) -> str:
    """``file:line`` of the innermost caller outside torch and the warnings module.

    A sync inside backward names the ``loss.backward()`` line of ``model.py``.
    """
    torch_dir = str(Path(torch.__file__).resolve().parent)
    for frame in reversed(frames):
        path = Path(frame.filename).resolve()
        if str(path).startswith(torch_dir) or 'warnings' in path.name:
            continue
        try:
            shown = path.relative_to(ROOT)
        except ValueError:
            shown = Path(*path.parts[-3:])
        return f'{shown}:{frame.lineno}'
    return 'unknown'


def _sync_sites(fn) -> Dict[str, int]:
    """Run ``fn`` in sync-debug 'warn' mode; count the synchronising calls by call site.

    A synchronising CUDA call warns while it runs (backward: when it returns),
    so the Python stack at the warning names the line that caused it.
    """
    sites: Counter = Counter()

    def record(message, category, filename, lineno, file=None, line=None):
        if 'synchroniz' in str(message):
            sites[_site(traceback.extract_stack()[:-1])] += 1

    with warnings.catch_warnings():
        warnings.simplefilter('always')
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode('warn')
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return dict(sites.most_common())


def _error_mode(step) -> Dict:
    """Run ``step`` under ``torch.cuda.set_sync_debug_mode('error')``."""
    torch.cuda.set_sync_debug_mode('error')
    try:
        step()
        return dict(error_mode='passed: no synchronising call')
    except RuntimeError as exc:
        frames = traceback.extract_tb(exc.__traceback__)[-4:]
        return dict(
            error_mode='failed: ' + _error(exc)[:300],
            error_frames=[f'{f.filename}:{f.lineno} {f.line}' for f in frames],
        )
    finally:
        torch.cuda.set_sync_debug_mode(0)


def step_sync(cfg: Dict, device: str, emit: Emit) -> Dict:
    """One training step of ours under ``torch.cuda.set_sync_debug_mode('error')``.

    The batch goes through the data preprocessor (host-to-device copies) first;
    the checked region is forward, targets + loss, backward and the SGD step,
    after one warm-up step (priors cache, cuDNN, allocator). In 'warn' mode the
    synchronising calls of the first and of a steady step are listed by source
    line, for ours and for mmdet's SSD (for comparison).
    """
    cuda = device.startswith('cuda')
    result: Dict = dict(model=cfg['model'], batch=cfg['batch'], checked=cuda)
    if not cuda:
        result['note'] = 'no CUDA: the step runs once, unchecked (torch.cuda sync debug mode)'
    for side, config in zip(('ours', 'mmdet'), model.PAIRS[cfg['model']]):
        net, size = model.build(config, device)
        net.train()
        packed = model.packed_batch(cfg['batch'], size, net.bbox_head.num_classes, device)
        data = net.data_preprocessor(packed, True)
        step = model.train_step(net, lambda data=data: data)  # preprocessed once
        if cuda:
            entry = {}
            for name in ('first_step_sync_sites', 'steady_step_sync_sites'):
                torch.cuda.synchronize()
                entry[name] = _sync_sites(step)
            torch.cuda.synchronize()
            if side == 'ours':
                entry.update(_error_mode(step))
                torch.cuda.synchronize()
        else:
            step()
            entry = dict(ran=True)
        result[side] = entry
        emit(result)
        del net, data, step
        _free(device)
    if cuda:
        result['passed'] = result['ours'].get('error_mode', '').startswith('passed')
    return result


# ------------------------------------------------ train, infer and loss
def _each(result: Dict, settings: List[Dict], measure, device: str, emit: Emit) -> Dict:
    """``result['rows'] += measure(setting)`` for each setting, or the setting with its
    error (one failed setting, e.g. out of memory, keeps the others); emitted after each."""
    for setting in settings:
        try:
            result['rows'] += measure(setting)
        except Exception as exc:
            result['rows'].append(dict(setting, error=_error(exc)))
        _free(device)
        emit(result)
    return result


def _pairs(kind: str, cfg: Dict, device: str, emit: Emit, **extra) -> Dict:
    """Ours and mmdet's per setting (``model.measure_pair``: median of ``iters``)."""
    result: Dict = dict(extra, iters=cfg['iters'], rows=[])
    weights: Dict[str, Dict] = {}

    def pair(row: Dict) -> List[Dict]:
        if row['model'] not in weights:
            ours_config = model.PAIRS[row['model']][0]
            weights[row['model']] = model.build(ours_config, 'cpu')[0].state_dict()
        # Alternate which side runs first, so that neither always meets a colder GPU.
        mmdet_first = len(result['rows']) % 2 == 1
        _, figures = model.measure_pair(
            kind, row['model'], device, row['batch'], row['amp'], cfg['iters'],
            weights[row['model']], 0, row.get('channels_last', False),
            run=lambda fn, *args: _free(device, fn(*args)), mmdet_first=mmdet_first,
        )  # fmt: skip
        return [dict(row, first='mmdet' if mmdet_first else 'ours', **figures)]

    return _each(result, cfg['rows'], pair, device, emit)


def step_train(cfg: Dict, device: str, emit: Emit) -> Dict:
    """Full train step, ours vs mmdet, per (model, batch, AMP, channels_last)."""
    return _pairs('train', cfg, device, emit)


def step_infer(cfg: Dict, device: str, emit: Emit) -> Dict:
    """Inference with post-processing and NMS (the stand-in), per (model, batch, AMP)."""
    return _pairs('infer', cfg, device, emit, nms=use_nms_stand_in())


def step_loss(cfg: Dict, device: str, emit: Emit) -> Dict:
    """Targets + loss, forward and backward, on the same head outputs (``loss.run``)."""
    from ssd_plugin import register_all_modules

    register_all_modules(init_default_scope=True)
    settings = [dict(input=size, batch=b) for size in cfg['sizes'] for b in cfg['batches']]

    def measure(s: Dict) -> List[Dict]:
        return loss.run([s['input']], [s['batch']], device, cfg['repeat'])

    return _each(dict(repeat=cfg['repeat'], rows=[]), settings, measure, device, emit)


# -------------------------------------------------------------------- data
def _worker_init(worker_id: int) -> None:
    import cv2
    import numpy as np

    cv2.setNumThreads(0)  # as mmengine's env_cfg (opencv_num_threads=0)
    np.random.seed(worker_id)


def _loader_img_s(samples: List[dict], transforms, batch: int, workers: int) -> Dict:
    """Images/s of a DataLoader that runs ``transforms`` on ``samples`` in its workers,
    after its first ``workers`` batches (worker start-up)."""
    from mmengine.dataset import pseudo_collate

    loader = torch.utils.data.DataLoader(
        samples,
        batch_size=batch,
        num_workers=workers,
        collate_fn=lambda items: pseudo_collate([transforms(dict(item)) for item in items]),
        worker_init_fn=_worker_init,
        multiprocessing_context='fork',  # the collate function needs no pickling
    )
    start = time.perf_counter()
    stamps, sizes = [], []
    for data in loader:
        stamps.append(time.perf_counter())
        sizes.append(len(data['inputs']))
    warm = min(workers, len(stamps) - 2)
    images = sum(sizes[warm + 1 :])
    return dict(
        workers=workers,
        img_s=images / (stamps[-1] - stamps[warm]),
        timed_images=images,
        first_batch_s=stamps[0] - start,
    )


def step_data(cfg: Dict, device: str, emit: Emit) -> Dict:
    """SSD300 train pipeline through a DataLoader (``pipeline.py``'s transforms and images)."""
    from mmengine.dataset import Compose

    torch.set_num_threads(1)
    transforms = {label: (prefix, kwargs) for label, prefix, kwargs in pipeline.ROWS}
    result: Dict = dict(
        images=cfg['num_images'],
        size=[cfg['width'], cfg['height']],
        samples=cfg['length'],
        batch=cfg['batch'],
        rows=[],
    )
    settings = [dict(pipeline=p, workers=w) for w in cfg['workers'] for p in cfg['pipelines']]
    with tempfile.TemporaryDirectory(prefix='gpu_suite_data_') as tmp:
        data = pipeline.make_images(tmp, cfg['num_images'], cfg['width'], cfg['height'], seed=0)
        samples = [data[i % len(data)] for i in range(cfg['length'])]

        def measure(s: Dict) -> List[Dict]:
            steps = Compose(pipeline.build_pipeline(*transforms[s['pipeline']]))
            return [dict(s, **_loader_img_s(samples, steps, cfg['batch'], s['workers']))]

        return _each(result, settings, measure, device, emit)


STEPS = dict(
    env=step_env, sync=step_sync, train=step_train, infer=step_infer, data=step_data, loss=step_loss
)
