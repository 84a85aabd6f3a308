"""Helpers of the tool tests: the tiny SSD config (plugin SSDHead on a 0.25x
MobileNetV2, 128 px) and running ``tools/*`` as a user does, in subprocesses
(``tools_test_hooks``, next to this file, is importable there through
``PYTHONPATH``).
"""

import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))

TINY_CONFIG = """
default_scope = 'ssd_plugin'
custom_imports = dict(imports=['tools_test_hooks'], allow_failed_imports=False)
data_root = {data_root!r}
metainfo = dict(classes={classes!r})
img_size = 128

model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(type='mmdet.MobileNetV2', widen_factor=0.25, out_indices=(2, 4, 6)),
    neck=None,
    bbox_head=dict(
        type='SSDHead',
        in_channels=(8, 24, 80),
        num_classes=6,
        anchor_generator=dict(
            type='SSDAnchorGenerator', scale_major=False, strides=[8, 16, 32],
            ratios=[[2], [2], [2]], min_sizes=[12, 32, 72], max_sizes=[32, 72, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2])),
    train_cfg=dict(
        assigner=dict(type='SSDMaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0),
        sampler=dict(type='SSDPseudoSampler', neg_pos_ratio=3),
        smoothl1_beta=1.0, allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(
        nms_pre=1000, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0, score_thr=0.02,
        max_per_img=100))

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


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` as a module, to call its ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location(
        f'ssd_tools_{name}', osp.join(ROOT, 'tools', f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment of a tool subprocess: hooks importable, 1 thread per process."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([HERE, ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra or {})
    return env


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
