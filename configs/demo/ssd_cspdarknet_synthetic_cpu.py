# A small SSD that trains on CPU in minutes: the demo's config (tools/demo.py).
# Data: the project's generated COCO-format shapes (tools/generate_dataset.py),
# 3000 train / 200 val images of 128x128, 6 classes, small/medium/large objects
# with occlusion; the demo draws 4-9 objects on each training image (val: 1-6),
# more positives a step for the same compute. Trained from scratch (nothing is
# downloaded).
# Model: the plugin's SSD head on a tiny CSPDarknet with a 64-channel FPN,
# four levels (32x32 to 4x4, strides 4-32), the stride-4 level without FPN's 3x3
# output conv (SkipOutputConvFPN): a step 1.13x faster, so 6 epochs (seeds 0-3:
# 0.537 / 0.462 / 0.505 / 0.452) in about the time of 5 of the full FPN (0.508 /
# 0.454 / 0.469 / 0.442); epoch for epoch lower (5 epochs, four seeds: 0.461 against
# 0.468; 16 epochs: 0.620 against 0.638; docs/demo.md). 64 channels rather than
# 32: a step costs about 1.15x, but in the same training time they learn more (seed
# 0: 8 epochs at 64 channels 0.517; 9 epochs at 48, 0.494, at 32, 0.476).
# Default boxes fitted to the training set by tools/analysis_tools/default_boxes.py
# --fit (mean best IoU 0.657 -> 0.700, every object covered at IoU 0.4 before and
# after).
# Training: a default box is positive from IoU 0.4 (SSD: 0.5), as S3FD
# (Zhang et al., 2017) does for small faces: more positives per object and a
# much better recall early in training. GroupNorm in the backbone (Wu & He,
# 2018): a from-scratch run depends less on its seed than with BatchNorm of 16
# images (7 epochs, seeds 0 / 1: 0.391 / 0.370 against 0.385 / 0.253). The
# class predictors start from N(0, 0.01) (RetinaNet's init, Lin et al. 2017,
# §4.1) instead of Xavier: near-uniform scores at step 0 (at step 25 loss_cls
# 7.5 against 11.8), which lets lr 5e-3 train (4e-3 gave 0.172 without it).
# The recipe is cut for short CPU runs (docs/demo.md has each figure and its
# command): 8 images a process, 2 x 8 a step, AdamW at lr 3.5e-3. On an Intel VM
# (AVX-512) a step of 2 x 8 cost 131 ms against 245 ms for 2 x 16, so twice the
# updates cost 1.09x the time: 5 epochs gave 0.505 / 0.447 (seeds 0 / 1) against
# 0.427 (seed 0) for 2 x 16 at lr 5e-3; on an earlier VM, where the smaller batch
# cost more an image, an earlier recipe lost 0.035 with it in equal time. The box
# loss is GIoU (Rezatofighi et al., 2019) on the decoded boxes, weight 8, in place of
# SSD's Smooth-L1 on the offsets (Eq. 2): 7 epochs, seeds 0-7, mean 0.513 against 0.500
# (the Smooth-L1 at beta 0.11), 7 of 8 seeds higher, AP75 up; weight 2 lost 0.06 on
# seed 0, 16 gave the same mean as 8 on seeds 0-3 (docs/demo.md).
# An epoch is half a pass over the 3000 images (SplitEpochSampler: 94 steps of
# 2 x 8), so a time budget that trains whole epochs leaves at most 12 s of a slow
# machine's budget unused instead of 25 (docs/demo.md); the other figures of this
# header count whole passes as epochs. A warm-up by steps,
# then a linear decay from epoch 2 (step 188): the first epoch
# does not depend on the number of epochs, so tools/demo.py times its first
# steps and sets the epochs without changing the run (TimeBudgetHook). No EMA
# of the weights: in 7 epochs it changed bbox mAP by 0.002 and cost ~4 ms a step.
# tools/demo.py trains it in 2 single-threaded processes (torchrun, gloo) on a
# 2-core machine, in channels_last (oneDNN's faster layout on CPU);
# tools/train.py runs it in one process (8 images a step).
_base_ = 'mmdet::_base_/default_runtime.py'

# The generator's class names, in its category order (one list for both).
classes = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')  # the generator's

# ---- frequently modified parameters -------------------------------------
data_root = 'data/synthetic/'  # written by tools/generate_dataset.py
input_size = 128
batch_size = 8  # per process (tools/demo.py trains in 2)
num_workers = 0  # on 2 cores a loader process slows the step (it competes with the math)
base_lr = 3.5e-3  # AdamW, 2 x 8 a step (one process of 16, 4 epochs: 5e-3 0.403, 3.5e-3 0.451)
match_iou = 0.4  # positive from this IoU, negative below it (SSD's 0.5)
giou_loss_weight = 8.0  # the box loss's weight beside the class loss's 1
warmup_iters = 150  # then constant to the end of epoch 2 (188 steps; tools/demo.py decides
# at step 94). 5 epochs, seeds 0-3: 0.508 / 0.454 / 0.469 / 0.442 against 0.505 / 0.447 /
# 0.427 / 0.441 with 50 steps: the slower ramp costs no seed and gives seed 2 +0.042
neck_channels = 64  # the FPN's outputs, which the head's predictors read
# Progressive resizing: the first passes at a smaller input cost less a step (96 px: 80
# against 107 ms) and show the objects smaller. 4 passes at 96 px + 3 at 128 px, seeds 0-7:
# mean 0.500 (4 of 8 reach 0.5) against 0.478 (2 of 8) for 6 passes at 128 px, every seed
# higher, in about the same training time (docs/demo.md)
small_input_size = 96
epoch_splits = 2  # epochs a pass over the training images
small_epochs = 8  # 4 passes; then the full input (a run of fewer than 9 epochs: its last one)
max_epochs = 32  # 16 passes; tools/demo.py trains fewer where they do not fit its time budget
val_interval = 32
# --------------------------------------------------------------------------

default_scope = 'ssd_plugin'
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
        # from step 25 (tools/demo.py's time budget times the steps before at the full
        # input) to the end of epoch `small_epochs`
        batch_augments=[
            dict(
                type='ssd_plugin.ProgressiveBatchResize',
                size=(small_input_size, small_input_size),
                begin_iter=25,
                end_epoch=small_epochs,
            )
        ],
    ),
    backbone=dict(
        type='CSPDarknet',
        deepen_factor=0.33,
        widen_factor=0.25,
        out_indices=(1, 2, 3, 4),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='SiLU'),
    ),
    # mmdet's FPN without the 3x3 output conv on the stride-4 level, a quarter of the
    # model's compute (get_flops.py: 0.153G -> 0.115G)
    neck=dict(
        type='ssd_plugin.SkipOutputConvFPN',
        in_channels=[32, 64, 128, 256],
        out_channels=neck_channels,
        num_outs=4,
        skip_output_conv=(0,),
    ),
    bbox_head=dict(
        type='ssd_plugin.SSDHead',
        num_classes=len(classes),
        in_channels=(neck_channels,) * 4,
        anchor_generator=dict(
            type='ssd_plugin.SSDAnchorGenerator',
            strides=[4, 8, 16, 32],
            ratios=[[2.0], [1.5, 2.0], [1.5, 2.0], [1.5, 2.0]],
            min_sizes=[13.32, 23.22, 45.24, 70.56],
            max_sizes=[98.49, 137.82, 226.34, 110.05],
        ),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
        ),
        reg_decoded_bbox=True,  # GIoU compares the decoded boxes with the objects
        loss_bbox=dict(type='GIoULoss', loss_weight=giou_loss_weight),
        # SSD's Xavier, but the class predictors from N(0, 0.01) (RetinaNet, §4.1)
        init_cfg=dict(
            type='Xavier',
            layer='Conv2d',
            distribution='uniform',
            bias=0,
            override=dict(type='Normal', name='cls_convs', std=0.01, bias=0),
        ),
    ),
    train_cfg=dict(
        assigner=dict(
            type='ssd_plugin.SSDMaxIoUAssigner',
            pos_iou_thr=match_iou,
            neg_iou_thr=match_iou,
            min_pos_iou=0.0,
        ),
        sampler=dict(type='ssd_plugin.SSDPseudoSampler', neg_pos_ratio=3),
    ),
    # Box voting after NMS (Gidaris & Komodakis 2015): each kept box moved to the
    # score-weighted mean of its class's candidates with IoU >= 0.7 with it; 7 epochs,
    # seeds 0-7: see docs/demo.md. Exports (ONNX, mmdeploy) run the NMS alone, and say so.
    test_cfg=dict(
        nms_pre=1000,
        nms=dict(type='nms', iou_threshold=0.45),
        box_voting=dict(iou_thr=0.7),
        min_bbox_size=0,
        score_thr=0.02,
        max_per_img=100,
    ),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),  # names a corrupt or truncated file
    dict(type='LoadAnnotations', with_bbox=True),
    # No Expand / MinIoURandomCrop: SSD's zoom out and zoom in pay off over long schedules
    # (the paper's 400k iterations); in the demo's few hundred steps they halved the mAP
    # (docs/demo.md: 0.070 with them, 0.140 without, same steps and images).
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='ssd_plugin.PhotoMetricDistortion',
        brightness_delta=16,
        contrast_range=(0.8, 1.2),
        saturation_range=(0.8, 1.2),
        hue_delta=8,
    ),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),  # names a corrupt or truncated file
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
# mmdet's CocoDataset, plus: bad boxes counted and logged, unknown category ids named.
dataset = dict(
    type='ssd_plugin.SSDCocoDataset', data_root=data_root, metainfo=dict(classes=classes)
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=num_workers > 0,
    sampler=dict(type='ssd_plugin.SplitEpochSampler', splits=epoch_splits, shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
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
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric='bbox',
    format_only=False,
)
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    # A linear decay to 2% of base_lr: under a fixed budget it beats the cosine (Li et al.
    # 2020, "Budgeted training"); 7 epochs, seeds 0 / 1: 0.449 / 0.415 against 0.442 / 0.396
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.02,
        begin=epoch_splits,  # step 188, after the warm-up
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,  # smooth decay within the few epochs
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
    dict(type='ssd_plugin.ChannelsLastHook'),  # NHWC weights and inputs (oneDNN's faster layout)
    dict(type='NumClassCheckHook'),  # num_classes vs the dataset's classes (mmdet's)
    dict(type='ssd_plugin.SSDConfigCheckHook'),  # anchor levels vs the feature maps
    # skip non-finite steps (gradients checked every step), stop after 3; loss, buffers and
    # weights checked every 25 steps (checking every step cost ~3 ms a step)
    dict(type='ssd_plugin.InvalidLossGuardHook', interval=25),
    dict(type='ssd_plugin.RNGStateHook'),  # exact --resume
    dict(type='ssd_plugin.MidEpochResumeHook'),  # --resume inside an epoch continues it
    dict(type='ssd_plugin.CheckpointOrderHook'),  # old checkpoints deleted after the new one
]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=2 * batch_size)  # base_lr is for 2 x 8
