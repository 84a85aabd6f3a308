# The plugin's SSD head on ResNet-50 (mmdet's, torchvision weights): C3-C5
# (38x38, 19x19, 10x10 at 300 px) plus three extra SSD levels (5, 3, 1), so
# the default boxes are exactly SSD300's.
_base_ = 'ssd300_coco.py'

# ---- frequently modified parameters -------------------------------------
pretrained = 'torchvision://resnet50'
# --------------------------------------------------------------------------

model = dict(
    data_preprocessor=dict(std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    neck=dict(
        in_channels=(512, 1024, 2048),
        out_channels=(512, 1024, 2048, 256, 256, 256),
        level_strides=(2, 2, 1),
        level_paddings=(1, 1, 0),
        l2_norm_scale=None,
    ),
    bbox_head=dict(in_channels=(512, 1024, 2048, 256, 256, 256)),
)
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
