# The calibration workload of issue 27: the demo config as it was on 2026-12-02 (12 epochs of
# 10000 images), kept unchanged to measure a VM's speed. Its one-process step:
#   OMP_NUM_THREADS=1 python tools/train.py docs/demo_calibration_config.py --cfg-options \
#     train_dataloader.dataset.indices=448 train_cfg.max_epochs=1 default_hooks.logger.interval=1
# took 0.21 s on the fastest 2-core VM measured and 1.235 s on the slowest (docs/demo.md).

# A small SSD that trains on CPU in minutes: the demo's config (tools/demo.py).
# Data: the project's generated COCO-format shapes (tools/generate_dataset.py),
# 10000 train / 200 val images of 128x128, 6 classes, small/medium/large objects
# with occlusion, trained from scratch (nothing is downloaded). With 2000
# images the model overfitted (val loss 3.3 against train 1.0 after 45 epochs);
# 10000 images seen 12 times cost the same time and generalise far better.
# Model: the plugin's SSD head on a tiny CSPDarknet with a 32-channel FPN,
# four levels (32x32 to 4x4, strides 4-32). Default boxes are 2.5x their
# level's stride (SSD300's are 2.4-3.1x), so that nearly every object, 10 px
# ones included, has a default box at IoU >= 0.5 (with boxes 1.25x their
# stride, the earlier layout, a third of the small objects had none and
# trained on the forced match alone).
# Training: a default box is positive from IoU 0.4 (SSD: 0.5), as S3FD
# (Zhang et al., 2017) does for small faces: more positives per object and a
# much better recall early in training; EMA weights are evaluated and saved.
# tools/demo.py trains it in 2 single-threaded processes (torchrun, gloo) on a
# 2-core machine, 2 x 32 images a step, in channels_last (oneDNN's faster
# layout on CPU); tools/train.py runs it in one process (32 images a step).
# 32 images a process take 6.9 ms an image against 10.5 ms for 8.
_base_ = 'mmdet::_base_/default_runtime.py'

# The generator's class names, in its category order (one list for both).
from ssd_plugin.apis.synthetic_data.classes import SYNTHETIC_CLASSES as classes  # noqa: E402

# ---- frequently modified parameters -------------------------------------
data_root = 'data/synthetic/'  # written by tools/generate_dataset.py
input_size = 128
batch_size = 32  # per process (tools/demo.py trains in 2)
num_workers = 0  # on 2 cores a loader process slows the step (it competes with the math)
base_lr = 2e-3  # AdamW, for 2 x 32 images a step
match_iou = 0.4  # positive from this IoU, negative below it (SSD's 0.5)
max_epochs = 12  # tools/demo.py trains fewer where they do not fit its time budget
val_interval = 12
# --------------------------------------------------------------------------

default_scope = 'ssd_plugin'
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
model = dict(
    type='mmdet.SingleStageDetector',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
    ),
    backbone=dict(
        type='mmdet.CSPDarknet',
        deepen_factor=0.33,
        widen_factor=0.25,
        out_indices=(1, 2, 3, 4),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='SiLU'),
    ),
    neck=dict(type='mmdet.FPN', in_channels=[32, 64, 128, 256], out_channels=32, num_outs=4),
    bbox_head=dict(
        type='SSDHead',
        num_classes=len(classes),
        in_channels=(32, 32, 32, 32),
        anchor_generator=dict(
            type='SSDAnchorGenerator',
            strides=[4, 8, 16, 32],
            ratios=[[2], [2, 3], [2, 3], [2, 3]],
            min_sizes=[10, 20, 40, 80],
            max_sizes=[20, 40, 80, 128],
        ),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
        ),
    ),
    train_cfg=dict(
        assigner=dict(
            type='SSDMaxIoUAssigner', pos_iou_thr=match_iou, neg_iou_thr=match_iou, min_pos_iou=0.0
        ),
        sampler=dict(type='SSDPseudoSampler', neg_pos_ratio=3),
        smoothl1_beta=1.0,
    ),
    test_cfg=dict(
        nms_pre=1000,
        nms=dict(type='nms', iou_threshold=0.45),
        min_bbox_size=0,
        score_thr=0.02,
        max_per_img=100,
    ),
)

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # names a corrupt or truncated file
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=16,
        contrast_range=(0.8, 1.2),
        saturation_range=(0.8, 1.2),
        hue_delta=8,
    ),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),  # names a corrupt or truncated file
    dict(type='mmdet.Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# mmdet's CocoDataset, plus: bad boxes counted and logged, unknown category ids named.
dataset = dict(type='SSDCocoDataset', data_root=data_root, metainfo=dict(classes=classes))
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='mmdet.AspectRatioBatchSampler'),
    dataset=dict(
        dataset,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        dataset,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type='mmdet.CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False,
)
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        T_max=max_epochs,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,  # smooth decay within the few epochs
        eta_min=base_lr * 0.02,
    ),
]
optim_wrapper = dict(
    type='OptimWrapper',
    # fused (torch >= 2.4 on CPU): one kernel for all parameters; the per-tensor loop
    # costs ~10 ms a step on 2 cores
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2),
)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),  # progress and ETA every 25 iterations
    checkpoint=dict(
        type='CheckpointHook',
        interval=val_interval,
        max_keep_ckpts=2,
        save_best='coco/bbox_mAP',
        backend_args=dict(backend='atomic_local'),  # no truncated checkpoint on a kill
    ),
)
custom_hooks = [
    dict(type='ChannelsLastHook'),  # NHWC weights and inputs (oneDNN's faster layout)
    dict(type='SSDConfigCheckHook'),  # num_classes and anchors vs data and features
    dict(type='InvalidLossGuardHook', interval=1),  # skip non-finite steps, stop after 3
    dict(type='RNGStateHook'),  # exact --resume
    dict(type='MidEpochResumeHook'),  # --resume inside an epoch continues it
    # Evaluate and save an exponential moving average of the weights (YOLOX's).
    dict(
        type='mmdet.EMAHook',
        ema_type='mmdet.ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49,
    ),
]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=2 * batch_size)  # base_lr is for 2 x 32
