"""Helpers of the default-box tests: hand-made COCO annotation files (no images:
the tool reads annotations only) and a small SSD config over them."""

import json
from typing import Sequence

from model_test_utils import tiny_detector_cfg

_CONFIG_TEMPLATE = """
default_scope = 'ssd_plugin'
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
data_root = {data_root!r}
classes = ('a', 'b')
model = {model}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=[0, 0, 0], to_rgb=True, ratio_range=(1, 4)),
    dict(type='mmdet.Resize', scale=(128, 128), keep_ratio=False),
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='mmdet.PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='mmdet.RepeatDataset', times=3,
        dataset=dict(
            type='mmdet.CocoDataset', data_root=data_root, metainfo=dict(classes=classes),
            ann_file='annotations/train.json', data_prefix=dict(img='train/'),
            filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline)))
"""
# model_test_utils' tiny SSD with large default boxes (64 px and up at 128 px).
_MODEL = tiny_detector_cfg(
    num_classes=2,
    min_sizes=(64, 96, 112),
    max_sizes=(96, 112, 128),
    input_size=128,
    normalise=False,
    test_cfg=dict(
        nms_pre=100, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0, score_thr=0.02,
        max_per_img=10,
    ),
)  # fmt: skip
CONFIG = _CONFIG_TEMPLATE.replace('{model}', repr(_MODEL).replace('{', '{{').replace('}', '}}'))


def write_coco(path: str, images: Sequence, boxes: Sequence) -> str:
    """Write a COCO file: ``images`` as ``(w, h)``, ``boxes`` as ``(image index, x, y, w, h)``."""
    data = dict(
        images=[
            dict(id=i + 1, file_name=f'{i:06d}.jpg', width=w, height=h)
            for i, (w, h) in enumerate(images)
        ],
        annotations=[
            dict(
                id=j + 1,
                image_id=i + 1,
                category_id=1 + j % 2,
                bbox=[x, y, w, h],
                area=w * h,
                iscrowd=0,
            )
            for j, (i, x, y, w, h) in enumerate(boxes)
        ],
        categories=[dict(id=1, name='a'), dict(id=2, name='b')],
    )
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def small_elongated_boxes(num_images: int = 40, seed: int = 0):
    """Images of 256 x 256 (Resize to 128 halves every box) with 24 x 48 px boxes at 128.

    No box reaches IoU 0.5 with the config's 64 px and larger default boxes
    (at best 1152 / 4096); a stride-8 box of 24 x 48 reaches 0.62 at the worst
    offset (4 px along each axis): 20 * 44 / (2 * 1152 - 880).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    boxes = []
    for i in range(num_images):
        for _ in range(5):
            x, y = rng.uniform(0, 256 - 48), rng.uniform(0, 256 - 96)
            boxes.append((i, float(x), float(y), 48.0, 96.0))
    return [(256, 256)] * num_images, boxes
