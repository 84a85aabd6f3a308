# The framework baseline of the demo config: the same model, data, schedule, seed
# and default boxes, with mmdet's own SSDHead, SSDAnchorGenerator, MaxIoUAssigner,
# PseudoSampler (neg_pos_ratio 3 in train_cfg), PhotoMetricDistortion, CocoDataset
# and image loader. `tools/benchmark.py accuracy` trains both and compares their bbox mAP.
_base_ = '../demo/ssd_cspdarknet_synthetic_cpu.py'

# Plain names resolve in mmdet's scope (the demo's loader is mmcv's LoadImageFromFile
# here); the demo's own hooks keep their `ssd_plugin.` names, and so does its neck
# (ssd_plugin.SkipOutputConvFPN, mmdet's FPN less one conv): the heads are compared on
# the same backbone and neck.
default_scope = 'mmdet'
# mmdet's SSDAnchorGenerator defaults to scale_major=True, which orders the boxes of a
# location differently: with the same weights it would be another model. With False,
# both configs build the same default boxes (tests/test_configs.py checks it).
# mmdet's SSDHead has no loss_bbox: it trains with SSD's Smooth-L1 on the offsets, where
# the demo's head has GIoU on the decoded boxes, and box voting after its NMS (the
# comparison includes both choices).
model = dict(
    bbox_head=dict(
        _delete_=True,
        **{
            key: value
            for key, value in _base_.model.bbox_head.items()
            if key not in ('type', 'anchor_generator', 'reg_decoded_bbox', 'loss_bbox')
        },
        type='mmdet.SSDHead',
        anchor_generator=dict(
            _base_.model.bbox_head.anchor_generator,
            type='mmdet.SSDAnchorGenerator',
            scale_major=False,
        ),
    ),
    # mmdet's heads have no box voting (the plugin's SSDHead's): its NMS alone
    test_cfg=dict(
        _delete_=True,
        **{key: value for key, value in _base_.model.test_cfg.items() if key != 'box_voting'},
    ),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(
            type='mmdet.MaxIoUAssigner',
            pos_iou_thr={{_base_.match_iou}},  # the demo's threshold, for a like comparison
            neg_iou_thr={{_base_.match_iou}},
            min_pos_iou=0.0,
            ignore_iof_thr=-1,
            gt_max_assign_all=False,
        ),
        sampler=dict(type='mmdet.PseudoSampler'),
        smoothl1_beta=0.11,  # Fast R-CNN's 1/9, the demo's before its GIoU loss
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False,
    ),
)

# The demo's pipelines on mmdet's transforms: only its PhotoMetricDistortion differs.
train_pipeline = [
    dict(step, type='mmdet.PhotoMetricDistortion')
    if step['type'] == 'ssd_plugin.PhotoMetricDistortion'
    else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(type='mmdet.CocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='mmdet.CocoDataset'))
test_dataloader = val_dataloader

# The demo's training hooks that shape the result (layout, NaN guard) are kept
# for a like comparison; its plugin-specific checks and resume hooks are not.
custom_hooks = [
    hook
    for hook in _base_.custom_hooks
    if hook['type'] in ('ssd_plugin.ChannelsLastHook', 'ssd_plugin.InvalidLossGuardHook')
]
