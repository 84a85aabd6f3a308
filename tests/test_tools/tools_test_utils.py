"""Helpers of the tool tests: the tiny SSD config (plugin SSDHead on a 0.25x
MobileNetV2, 128 px) and running ``tools/*`` as a user does, in subprocesses
(``tools_test_hooks``, next to this file, is importable there through
``PYTHONPATH``).
"""

import importlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Dict, List, Optional

from model_test_utils import tiny_detector_cfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))

TINY_CONFIG_TEMPLATE = """
default_scope = 'ssd_plugin'
custom_imports = dict(imports=['tools_test_hooks'], allow_failed_imports=False)
data_root = {data_root!r}
metainfo = dict(classes={classes!r})
img_size = 128

model = {model}

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RepeatDataset', times=2,
        dataset=dict(
            type='CocoDataset', data_root=data_root, metainfo=metainfo,
            ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
            filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
        test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0, end=5)]
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
env_cfg = dict(
    cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))  # as mmdet's runtime: the tools switch to gloo on CPU
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=1, by_epoch=False)
log_level = 'INFO'
randomness = dict(seed=0)
find_unused_parameters = True  # MobileNetV2 computes its last conv, unused here
load_from = None
resume = False
"""
# The model is model_test_utils' tiny SSD (6 classes, 128 px); the rest is this file's.
TINY_CONFIG = TINY_CONFIG_TEMPLATE.replace(
    '{model}', repr(tiny_detector_cfg()).replace('{', '{{').replace('}', '}}')
)


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module, to call its ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location(
        f'ssd_tools_{name}', osp.join(ROOT, 'tools', f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_benchmark(name: str) -> ModuleType:
    """Import ``tools/benchmarks/<name>.py`` as ``benchmarks.<name>``, the name
    ``tools/benchmark.py`` (its folder first on the path) gives it (pytest's
    ``pythonpath`` in pyproject.toml puts ``tools/`` on the path)."""
    return importlib.import_module(f'benchmarks.{name}')


def tool_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment of a tool subprocess: hooks importable, 1 thread per process."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([HERE, ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra or {})
    return env


def run_command(cmd: List[str], env: Dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    """Run ``cmd`` (e.g. a launcher script) from the repo root, output captured."""
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def run_tool(args: List[str], timeout: int = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python tools/<args...>`` and return the finished process (output captured)."""
    cmd = [sys.executable] + [osp.join(ROOT, 'tools', args[0])] + list(args[1:])
    return subprocess.run(
        cmd, cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=timeout, **kwargs
    )


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    """Fail with the tool's output tail when it did not exit with 0."""
    assert proc.returncode == 0, (
        f'exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    )


def scalars(work_dir: str) -> Dict[int, Dict]:
    """``step -> logged train scalars`` from every run (timestamp dir) in ``work_dir``."""
    steps: Dict[int, Dict] = {}
    for stamp in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, stamp, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                for line in f:
                    record = json.loads(line)
                    if 'loss' in record:
                        steps.setdefault(record['step'], record)
    return steps
