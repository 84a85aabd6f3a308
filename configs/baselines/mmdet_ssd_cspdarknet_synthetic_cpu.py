# The framework baseline of the demo config: the same model, data, schedule and
# seed, with mmdet's own SSDHead, SSDAnchorGenerator, MaxIoUAssigner,
# PseudoSampler (neg_pos_ratio 3 in train_cfg) and PhotoMetricDistortion.
# `tools/benchmark.py accuracy` trains both and compares their bbox mAP.
_base_ = '../demo/ssd_cspdarknet_synthetic_cpu.py'

# The whole model resolves in mmdet's scope, so the head's own builds (anchor
# generator, coder, assigner, sampler) take mmdet's classes, not the plugin's.
model = dict(
    _scope_='mmdet',
    bbox_head=dict(type='SSDHead', anchor_generator=dict(type='SSDAnchorGenerator')),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr={{_base_.match_iou}},  # the demo's threshold, for a like comparison
            neg_iou_thr={{_base_.match_iou}},
            min_pos_iou=0.0,
            ignore_iof_thr=-1,
            gt_max_assign_all=False,
        ),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.0,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False,
    ),
)

# The demo's pipelines on mmdet's transforms.
from ssd_plugin.datasets.pipeline_edit import retyped  # noqa: E402

MMDET_TRANSFORMS = {
    'SafeLoadImageFromFile': 'mmdet.LoadImageFromFile',
    'LoadAnnotations': 'mmdet.LoadAnnotations',
}
train_pipeline = retyped(
    _base_.train_pipeline,
    dict(MMDET_TRANSFORMS, PhotoMetricDistortion='mmdet.PhotoMetricDistortion'),
)
test_pipeline = retyped(_base_.test_pipeline, MMDET_TRANSFORMS)
# mmdet's CocoDataset (the demo's is the plugin's SSDCocoDataset): mmdet's data path throughout.
train_dataloader = dict(dataset=dict(type='mmdet.CocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='mmdet.CocoDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader

# mmdet 3.3.0's SSDHead cannot predict (BaseDenseHead reads self.loss_cls,
# which SSDHead never sets): the hook gives it loss_cls = None, nothing else.
# The demo's other training hooks (layout, EMA) are kept for a like comparison.
KEPT_HOOKS = ('ChannelsLastHook', 'InvalidLossGuardHook', 'mmdet.EMAHook')
custom_hooks = [dict(type='MMDetSSDHeadCompatHook')] + [
    hook for hook in _base_.custom_hooks if hook['type'] in KEPT_HOOKS
]
