# SSDLite with MobileNetV2 on COCO 2017, from scratch, 320x320, as mmdet's
# ssdlite_mobilenetv2-scratch_8xb24-600e_coco: depthwise head and neck,
# explicit default-box sizes (any input size), 120 epochs x RepeatDataset(5).
_base_ = 'ssd300_coco.py'

# ---- frequently modified parameters -------------------------------------
input_size = 320
batch_size = 24  # per GPU; base_lr is for 8 GPUs x 24 images
base_lr = 0.015
max_epochs = 120
# --------------------------------------------------------------------------

norm_cfg = dict(type='BN', eps=0.001, momentum=0.03)
model = dict(
    data_preprocessor=dict(std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(4, 7),
        norm_cfg=norm_cfg,
        init_cfg=dict(type='TruncNormal', layer='Conv2d', std=0.03),
    ),
    neck=dict(
        in_channels=(96, 1280),
        out_channels=(96, 1280, 512, 256, 256, 128),
        level_strides=(2, 2, 2, 2),
        level_paddings=(1, 1, 1, 1),
        l2_norm_scale=None,
        use_depthwise=True,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU6'),
        init_cfg=dict(type='TruncNormal', layer='Conv2d', std=0.03),
    ),
    bbox_head=dict(
        in_channels=(96, 1280, 512, 256, 256, 128),
        use_depthwise=True,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU6'),
        init_cfg=dict(type='Normal', layer='Conv2d', std=0.001),
        anchor_generator=dict(
            _delete_=True,
            type='ssd_plugin.SSDAnchorGenerator',
            scale_major=False,
            input_size=input_size,  # the explicit sizes ignore it; SSDConfigCheckHook uses it
            strides=[16, 32, 64, 107, 160, 320],
            ratios=[[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2, 3]],
            min_sizes=[48, 100, 150, 202, 253, 304],
            max_sizes=[100, 150, 202, 253, 304, 320],
        ),
    ),
)
# SSD's pipelines (_base_/datasets/ssd_pipeline.py) at 320 px: only the Resize changes.
from ssd_plugin.datasets.pipeline_edit import resized  # noqa: E402

train_pipeline = resized(_base_.train_pipeline, input_size)
test_pipeline = resized(_base_.test_pipeline, input_size)
train_dataloader = dict(batch_size=batch_size, dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        T_max=max_epochs,
        end=max_epochs,
        by_epoch=True,
        eta_min=0,
    ),
]
optim_wrapper = dict(optimizer=dict(lr=base_lr, weight_decay=4.0e-5))
auto_scale_lr = dict(base_batch_size=192)
