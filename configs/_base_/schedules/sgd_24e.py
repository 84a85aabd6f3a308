# SSD's SGD schedule (mmdet's SSD300/512 "120e" on COCO: 24 epochs over a
# RepeatDataset of 5): lr 2e-3 for 8 GPUs x 8 images, momentum 0.9, weight
# decay 5e-4, 500 warm-up iterations, steps at epochs 16 and 22.
max_epochs = 24
base_lr = 2e-3

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

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
# `--auto-scale-lr` scales base_lr by (GPUs x batch_size) / 64.
auto_scale_lr = dict(enable=False, base_batch_size=64)
