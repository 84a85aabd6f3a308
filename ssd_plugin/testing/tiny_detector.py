"""The tiny SSD of the tests: the plugin's SSDHead on three levels (strides
8-32) of a 0.25x MobileNetV2, for 128 px inputs; trains and exports in seconds."""

from typing import Dict, Optional, Sequence

__all__ = ['IMAGENET_MEAN', 'IMAGENET_STD', 'tiny_detector_cfg']

IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def tiny_detector_cfg(
    num_classes: int = 6,
    ratios: Sequence[Sequence[int]] = ([2], [2], [2]),
    min_sizes: Sequence[float] = (12, 32, 72),
    max_sizes: Sequence[float] = (32, 72, 128),
    input_size: Optional[int] = None,
    normalise: bool = True,
    bbox_coder: bool = True,
    train_cfg: bool = True,
    test_cfg: Optional[Dict] = None,
) -> Dict:
    """A ``SingleStageDetector`` dict (plugin scope, mmdet types as ``mmdet.X``).

    Args:
        num_classes: Foreground classes of the head.
        ratios: Aspect ratios per level (SSD: ``[2]`` or ``[2, 3]``).
        min_sizes: Smallest default box side per level (px).
        max_sizes: Largest default box side per level (px).
        input_size: The anchor generator's ``input_size``; None leaves its default.
        normalise: ImageNet mean/std and BGR to RGB; else mean 0, std 1.
        bbox_coder: Give the head SSD's ``DeltaXYWHBBoxCoder`` (stds 0.1, 0.2) explicitly.
        train_cfg: Add SSD's ``train_cfg`` (IoU 0.5 matching, 3:1 hard negatives).
        test_cfg: The model's ``test_cfg``; None: NMS 0.45, score 0.02, 100 a image.

    Returns:
        A new dict each call.
    """
    anchor_generator = dict(
        type='SSDAnchorGenerator',
        scale_major=False,
        strides=[8, 16, 32],
        ratios=[list(r) for r in ratios],
        min_sizes=list(min_sizes),
        max_sizes=list(max_sizes),
    )
    if input_size is not None:
        anchor_generator['input_size'] = input_size
    head = dict(
        type='SSDHead', in_channels=(8, 24, 80), num_classes=num_classes,
        anchor_generator=anchor_generator,
    )  # fmt: skip
    if bbox_coder:
        head['bbox_coder'] = dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
        )
    preprocessor = dict(type='mmdet.DetDataPreprocessor', pad_size_divisor=1)
    if normalise:
        preprocessor.update(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), bgr_to_rgb=True)
    else:
        preprocessor.update(mean=[0, 0, 0], std=[1, 1, 1])
    model = dict(
        type='mmdet.SingleStageDetector',
        data_preprocessor=preprocessor,
        backbone=dict(type='mmdet.MobileNetV2', widen_factor=0.25, out_indices=(2, 4, 6)),
        neck=None,
        bbox_head=head,
    )
    if train_cfg:
        model['train_cfg'] = dict(
            assigner=dict(
                type='SSDMaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0
            ),
            sampler=dict(type='SSDPseudoSampler', neg_pos_ratio=3),
            smoothl1_beta=1.0, allowed_border=-1, pos_weight=-1, debug=False,
        )  # fmt: skip
    model['test_cfg'] = test_cfg or dict(
        nms_pre=1000, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0,
        score_thr=0.02, max_per_img=100,
    )  # fmt: skip
    return model
