# SSD's data augmentation (Liu et al., 2016, Sec. 2.2) and test pipeline, for
# an input of input_size x input_size. Configs at another size derive theirs
# from these, changing only the Resize steps (see ssd512_coco.py).
input_size = 300
mean = [123.675, 116.28, 103.53]  # the data preprocessor's, filled into expanded canvases

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # SSD Sec. 2.2 "zoom out"; lazy: the canvas is materialised only inside the crop.
    dict(type='ssd_plugin.Expand', mean=mean, to_rgb=True, ratio_range=(1, 4), lazy=True),
    # SSD Sec. 2.2 "zoom in": a patch with min IoU in {0.1, ..., 0.9}, or random.
    dict(type='ssd_plugin.MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='ssd_plugin.PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
    ),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
