# SSD512 on COCO 2017: seven levels, 24564 default boxes.
_base_ = 'ssd300_coco.py'

# ---- frequently modified parameters -------------------------------------
input_size = 512
# --------------------------------------------------------------------------

model = dict(
    neck=dict(
        out_channels=(512, 1024, 512, 256, 256, 256, 256),
        level_strides=(2, 2, 2, 2, 1),
        level_paddings=(1, 1, 1, 1, 1),
        last_kernel_size=4,
    ),
    bbox_head=dict(
        in_channels=(512, 1024, 512, 256, 256, 256, 256),
        anchor_generator=dict(
            input_size=input_size,
            basesize_ratio_range=(0.1, 0.9),
            strides=[8, 16, 32, 64, 128, 256, 512],
            ratios=[[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]],
        ),
    ),
)
# SSD's pipelines (_base_/datasets/ssd_pipeline.py) at 512 px: only the Resize changes.
from ssd_plugin.datasets.pipeline_edit import resized  # noqa: E402

train_pipeline = resized(_base_.train_pipeline, input_size)
test_pipeline = resized(_base_.test_pipeline, input_size)
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
