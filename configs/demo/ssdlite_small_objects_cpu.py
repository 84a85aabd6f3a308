# SSDLite (MobileNetV2, strides 16 to 320 at 320 px) on generated small objects:
# the default-box tool's worked case for a grid that is too coarse
# (docs/default_boxes.md). Data: tools/generate_dataset.py at 800 px, resized to
# 320, so the objects are 8 to 38 px at the input:
#   python tools/generate_dataset.py --out data/small_objects --num-train 1500 \
#       --num-val 300 --img-size 800 --min-side 20 --size-mix 0.3 0.7 0 \
#       --min-objects 4 --max-objects 12
# Model and boxes: ssdlite_mobilenetv2_coco.py's, for the 6 generated classes.
# Schedule: short, for CPU (AdamW, cosine).
_base_ = '../ssdlite_mobilenetv2_coco.py'

# The generator's class names, in its category order (tools/synthetic_data/classes.py).
classes = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')

# ---- frequently modified parameters -------------------------------------
data_root = 'data/small_objects/'
batch_size = 16
base_lr = 2e-3
max_epochs = 6
# --------------------------------------------------------------------------

model = dict(bbox_head=dict(num_classes=len(classes)))
dataset = dict(
    type='ssd_plugin.SSDCocoDataset', data_root=data_root, metainfo=dict(classes=classes)
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset,
        _delete_=True,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=_base_.train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset,
        _delete_=True,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=_base_.test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# The base's warm-up and cosine, shortened to this schedule.
param_scheduler = [
    dict(_base_.param_scheduler[0], start_factor=0.01, end=100),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
        eta_min=base_lr * 0.02,
    ),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2),
)
default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1)
)
auto_scale_lr = dict(enable=False)
