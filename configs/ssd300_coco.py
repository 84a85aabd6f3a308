# SSD300 on COCO 2017, the paper's model with mmdet's "120e" schedule:
# 24 epochs over RepeatDataset(times=5), i.e. 120 passes over train2017,
# lr steps at epochs 16 and 22, SGD lr 2e-3 for 8 GPUs x 8 images.
_base_ = [
    '_base_/models/ssd300.py',
    '_base_/datasets/coco_detection.py',
    '_base_/schedules/sgd_24e.py',
    '_base_/default_runtime.py',
]

# ---- frequently modified parameters -------------------------------------
data_root = 'data/coco/'  # holds annotations/ train2017/ val2017/
num_classes = 80
batch_size = 8  # per GPU; base_lr is for 8 GPUs x 8 images (auto_scale_lr)
num_workers = 4
base_lr = 2e-3
max_epochs = 24  # x RepeatDataset(5) = mmdet's "120e"
repeat_times = 5
# --------------------------------------------------------------------------

model = dict(bbox_head=dict(num_classes=num_classes))
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=num_workers,
    dataset=dict(times=repeat_times, dataset=dict(data_root=data_root)),
)
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
