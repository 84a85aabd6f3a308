# The plugin's SSD head on another backbone family: mmdet's CSPDarknet
# (YOLOv5/YOLOX, small variant), trained from scratch with BN. Its C3-C5 give
# 38x38, 19x19 and 10x10 maps at 300 px; three extra levels complete SSD300's
# six. Default boxes by the paper's formula (size_mode='paper').
_base_ = 'ssd300_coco.py'

# ---- frequently modified parameters -------------------------------------
deepen_factor = 0.33
widen_factor = 0.5
# --------------------------------------------------------------------------

norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
model = dict(
    data_preprocessor=dict(std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='CSPDarknet',
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        out_indices=(2, 3, 4),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='SiLU'),
    ),
    neck=dict(
        in_channels=(128, 256, 512),
        out_channels=(128, 256, 512, 256, 256, 256),
        level_strides=(2, 2, 1),
        level_paddings=(1, 1, 0),
        l2_norm_scale=None,
        norm_cfg=norm_cfg,
    ),
    bbox_head=dict(
        in_channels=(128, 256, 512, 256, 256, 256),
        anchor_generator=dict(
            _delete_=True,
            type='ssd_plugin.SSDAnchorGenerator',
            size_mode='paper',
            input_size=300,
            basesize_ratio_range=(0.1, 0.9),
            strides=[8, 16, 32, 64, 100, 300],
            ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]],
        ),
    ),
)
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
