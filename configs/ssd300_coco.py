# SSD300 on COCO 2017, the paper's model with mmdet's "120e" schedule:
# 24 epochs over RepeatDataset(times=5), i.e. 120 passes over train2017,
# lr steps at epochs 16 and 22, SGD lr 2e-3 for 8 GPUs x 8 images.
_base_ = [
    '_base_/models/ssd300.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py',
]

# ---- frequently modified parameters -------------------------------------
data_root = 'data/coco/'  # holds annotations/ train2017/ val2017/
num_classes = 80
input_size = 300
batch_size = 8  # per GPU; base_lr is for 8 GPUs x 8 images (auto_scale_lr)
num_workers = 4
base_lr = 2e-3
max_epochs = 24  # x RepeatDataset(5) = mmdet's "120e"
repeat_times = 5
mean = [123.675, 116.28, 103.53]
# --------------------------------------------------------------------------

default_scope = 'ssd_plugin'
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
model = dict(bbox_head=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # SSD §2.2 "zoom out"; lazy: the canvas is materialised only inside the crop.
    dict(type='Expand', mean=mean, to_rgb=True, ratio_range=(1, 4), lazy=True),
    # SSD §2.2 "zoom in": a patch with min IoU in {0.1, ..., 0.9}, or random.
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='mmdet.Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
    ),
    dict(type='mmdet.PackDetInputs'),
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='mmdet.Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='mmdet.PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='mmdet.RepeatDataset',
        times=repeat_times,
        dataset=dict(
            # mmdet's CocoDataset, plus: zero/negative boxes filtered with a logged count
            # (invalid_box='error' to fail instead), boxes clipped to the image,
            # unknown category ids named.
            type='SSDCocoDataset',
            invalid_box='filter',
            data_root=data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline,
        ),
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1,
    ),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=5e-4),
    # Guards the first iterations against divergence (mmdet issues #2448, #9463).
    clip_grad=dict(max_norm=35, norm_type=2),
)
custom_hooks = [
    dict(type='mmdet.NumClassCheckHook'),
    # Before training: num_classes vs the dataset (through RepeatDataset), and the
    # anchor levels/strides vs the feature maps of a dummy forward (docs/robustness.md).
    dict(type='SSDConfigCheckHook'),
    # Stops on a NaN/inf loss before a checkpoint is written from it.
    dict(type='InvalidLossGuardHook', interval=1),
    # Random generator states in checkpoints, restored on --resume.
    dict(type='RNGStateHook'),
]
# Atomic checkpoint writes: a run killed mid-save leaves no truncated file.
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
# `--auto-scale-lr` scales base_lr by (GPUs x batch_size) / 64.
auto_scale_lr = dict(enable=False, base_batch_size=64)
