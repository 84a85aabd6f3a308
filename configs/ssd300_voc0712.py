# SSD300 on PASCAL VOC: trained on VOC2007+2012 trainval, tested on VOC2007
# test, 20 classes, VOC mAP (11 points). The paper's VOC default boxes:
# s_min 0.2 (first level 10%-20% of the image, as in the published model).
_base_ = [
    '_base_/models/ssd300.py',
    '_base_/datasets/voc0712.py',
    '_base_/schedules/sgd_24e.py',
    '_base_/default_runtime.py',
]

# ---- frequently modified parameters -------------------------------------
data_root = 'data/VOCdevkit/'  # holds VOC2007/ and VOC2012/
num_classes = 20
batch_size = 8  # per GPU; base_lr is for 8 GPUs x 8 images (auto_scale_lr)
num_workers = 4
base_lr = 2e-3
max_epochs = 24  # x RepeatDataset(10) = mmdet's "240e"-style VOC schedule
repeat_times = 10
# --------------------------------------------------------------------------

model = dict(
    bbox_head=dict(num_classes=num_classes, anchor_generator=dict(basesize_ratio_range=(0.2, 0.9)))
)
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    dataset=dict(
        times=repeat_times,
        # The base's VOC2007 and VOC2012 trainval sets, under this data_root.
        dataset=dict(
            datasets=[
                dict(voc, data_root=data_root)
                for voc in _base_.train_dataloader.dataset.dataset.datasets
            ]
        ),
    ),
)
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[16, 20], gamma=0.1
    ),
]
optim_wrapper = dict(optimizer=dict(lr=base_lr))
