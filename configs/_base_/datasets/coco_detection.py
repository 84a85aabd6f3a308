# COCO 2017 detection for SSD: the plugin's SSDCocoDataset (mmdet's
# CocoDataset, plus: zero/negative boxes filtered with a logged count, boxes
# clipped to the image, unknown category ids named) in a RepeatDataset, and
# COCO's bbox metric. The pipelines are SSD's (ssd_pipeline.py).
_base_ = './ssd_pipeline.py'

data_root = 'data/coco/'  # holds annotations/ train2017/ val2017/
batch_size = 8  # per GPU
num_workers = 4
repeat_times = 5  # epochs x 5 passes over train2017

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type='RepeatDataset',
        times=repeat_times,
        dataset=dict(
            type='ssd_plugin.SSDCocoDataset',
            invalid_box='filter',  # or 'error' to fail on the first one
            data_root=data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline={{_base_.train_pipeline}},
        ),
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
)
test_evaluator = val_evaluator
