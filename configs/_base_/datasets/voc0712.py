# PASCAL VOC for SSD: trained on VOC2007 + VOC2012 trainval, tested on VOC2007
# test (20 classes, VOC mAP with 11 points). The pipelines are SSD's
# (ssd_pipeline.py).
_base_ = './ssd_pipeline.py'

data_root = 'data/VOCdevkit/'  # holds VOC2007/ and VOC2012/
batch_size = 8  # per GPU
num_workers = 4
repeat_times = 10  # epochs x 10 passes over VOC07+12 trainval

voc_train = dict(
    type='VOCDataset',
    data_root=data_root,
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline={{_base_.train_pipeline}},
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='RepeatDataset',
        times=repeat_times,
        dataset=dict(
            type='ConcatDataset',
            # VOCDataset adds a per-year `dataset_type` to its metainfo, which
            # ConcatDataset would refuse as a mismatch.
            ignore_keys=['dataset_type'],
            datasets=[
                dict(
                    voc_train,
                    ann_file='VOC2007/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2007/'),
                ),
                dict(
                    voc_train,
                    ann_file='VOC2012/ImageSets/Main/trainval.txt',
                    data_prefix=dict(sub_data_root='VOC2012/'),
                ),
            ],
        ),
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VOCDataset',
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator
