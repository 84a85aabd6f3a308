"""The training boxes come through the config's dataset class and its train ``Resize``."""

import json

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from analysis_tools.default_box_analysis import ground_truth
from analysis_tools.default_box_analysis.ground_truth import DefaultBoxesError


def _edge_case_coco(path, seed=0):
    """Images of several sizes (some without boxes, some whose boxes are all dropped), and
    boxes: crowd, tiny, zero / negative size, partly and fully outside, of an unselected
    category, int and float coordinates, annotations not grouped by image."""
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (500, 375), (333, 500), (96, 64), (31, 200)]
    images = [
        dict(id=1000 - 3 * i, file_name=f'{i}.jpg', width=w, height=h)
        for i, (w, h) in enumerate(sizes[j % len(sizes)] for j in range(120))
    ]
    anns = []
    for j in range(900):
        img = images[int(rng.integers(0, 100))]  # the last 20 images have no annotation
        w_img, h_img = img['width'], img['height']
        kind = rng.integers(0, 10)
        bw, bh = rng.uniform(0.3, 0.6) * w_img, rng.uniform(0.3, 0.6) * h_img
        x, y = rng.uniform(-0.2, 0.9) * w_img, rng.uniform(-0.2, 0.9) * h_img
        if kind == 0:
            bw, bh = rng.uniform(0.1, 1.5), rng.uniform(0.1, 1.5)  # tiny
        elif kind == 1:
            bw = float(rng.choice([0.0, -3.0]))  # zero / negative width
        elif kind == 2:
            x = w_img + rng.uniform(0, 10)  # fully outside
        elif kind == 3:
            x, y, bw, bh = (int(v) for v in (x, y, max(bw, 1), max(bh, 1)))  # integers
        area = 0.0 if kind == 4 else float(abs(bw * bh))
        anns.append(
            dict(
                id=5 * j + 7,
                image_id=img['id'],
                category_id=int(rng.choice([1, 2, 3])),
                bbox=[x, y, bw, bh],
                area=area,
                iscrowd=int(rng.random() < 0.1),
            )
        )
    # an image whose only box is dropped by SSDCocoDataset (zero size) but counted by mmdet
    anns.append(dict(id=1, image_id=images[110]['id'], category_id=1, bbox=[5, 5, 0, 4], area=1))
    cats = [dict(id=1, name='a'), dict(id=2, name='b'), dict(id=3, name='c')]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return path


def _cfg(root, ds_type, resize, filter_cfg, **extra):
    dataset = dict(
        type=ds_type,
        data_root=str(root) + '/',
        ann_file='train.json',
        metainfo=dict(classes=('a', 'c')),  # 'b' unselected
        data_prefix=dict(img='train/'),
        filter_cfg=filter_cfg,
        pipeline=[dict(type='LoadImageFromFile'), resize, dict(type='mmdet.PackDetInputs')],
        **extra,
    )
    return Config(
        dict(
            model=dict(data_preprocessor=dict(pad_size_divisor=32)),
            train_dataloader=dict(
                dataset=dict(type='mmdet.RepeatDataset', times=2, dataset=dataset)
            ),
        )
    )


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    _edge_case_coco(str(root / 'train.json'))
    return root


@pytest.mark.parametrize('ds_type', ['mmdet.CocoDataset', 'SSDCocoDataset'])
@pytest.mark.parametrize(
    'resize, filter_cfg',
    [
        (dict(type='mmdet.Resize', scale=(300, 180), keep_ratio=False), dict(filter_empty_gt=True)),
        (
            dict(type='mmdet.Resize', scale=(256, 160), keep_ratio=True),
            dict(filter_empty_gt=True, min_size=64),
        ),
        (dict(type='mmdet.Resize', scale_factor=0.7), dict(filter_empty_gt=False, min_size=40)),
        (dict(type='mmdet.Resize', scale=(200, 300), keep_ratio=False), None),
    ],
)
def test_boxes_are_the_dataset_class_boxes_through_mmdet_resize(
    coco_root, ds_type, resize, filter_cfg
):
    # The expected boxes: the dataset class's own instances (its filters applied), each
    # image's boxes through mmdet's Resize transform on a blank image of its size.
    from mmdet.structures.bbox import HorizontalBoxes

    from ssd_plugin.registry import DATASETS, TRANSFORMS

    cfg = _cfg(coco_root, ds_type, resize, filter_cfg)
    gt = ground_truth.load_train_boxes(cfg)
    init_default_scope('ssd_plugin')
    leaf = dict(cfg.train_dataloader.dataset.dataset, pipeline=[], serialize_data=False)
    dataset = DATASETS.build(leaf)
    transform = TRANSFORMS.build(resize)
    boxes, shapes, ignored = [], [], 0
    for info in dataset.data_list:
        kept = [i['bbox'] for i in info['instances'] if not i['ignore_flag']]
        ignored += len(info['instances']) - len(kept)
        if not kept:
            continue
        img = np.zeros((info['height'], info['width'], 3), np.uint8)
        out = transform(
            dict(
                img=img,
                img_shape=img.shape[:2],
                gt_bboxes=HorizontalBoxes(np.array(kept, np.float32)),
            )
        )
        boxes.append(out['gt_bboxes'].numpy())
        h, w = out['img_shape']
        shapes += [(-(-h // 32) * 32, -(-w // 32) * 32)] * len(kept)
    boxes, shapes = np.concatenate(boxes), np.array(shapes)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    assert len(gt) > 100 and (gt.num_images, gt.num_ignored) == (len(dataset), ignored)
    assert ignored > 0
    np.testing.assert_allclose(gt.boxes, boxes[valid], rtol=0, atol=1e-4)  # same order
    assert np.array_equal(gt.input_shapes, shapes[valid])


@pytest.mark.parametrize(
    'change', ['duplicate_ann_id', 'unknown_category', 'missing_class', 'invalid_box_error']
)
def test_what_the_dataset_class_refuses_is_named(tmp_path, change):
    path = tmp_path / 'train.json'
    images = [dict(id=1, file_name='1.jpg', width=100, height=80)]
    anns = [dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 30, 20], area=600, iscrowd=0)]
    anns.append(
        dict(anns[0], id=2, bbox=[0, 0, 0, 5] if change == 'invalid_box_error' else [1, 1, 9, 9])
    )
    cats = [dict(id=1, name='a'), dict(id=2, name='c')]
    if change == 'duplicate_ann_id':
        anns[1]['id'] = 1
    elif change == 'unknown_category':
        anns[1]['category_id'] = 9
    elif change == 'missing_class':
        cats = cats[:1]
    path.write_text(json.dumps(dict(images=images, annotations=anns, categories=cats)))
    extra = dict(invalid_box='error') if change == 'invalid_box_error' else {}
    cfg = _cfg(tmp_path, 'SSDCocoDataset', dict(type='mmdet.Resize', scale=(50, 40)), None, **extra)
    with pytest.raises(
        DefaultBoxesError, match='train_dataloader.dataset.dataset .*could not be read'
    ):
        ground_truth.load_train_boxes(cfg)  # the dataset class's own message, with the key
