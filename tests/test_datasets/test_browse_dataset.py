"""tools/browse_dataset.py on a tiny generated COCO dataset and config."""

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
from mmengine.registry import DefaultScope

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'browse_dataset.py'

CONFIG = """
default_scope = 'ssd_plugin'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 2), lazy=True),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3), min_crop_size=0.5),
    dict(type='Resize', scale=(64, 48), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='CocoDataset',
        data_root={root!r},
        ann_file='ann.json',
        data_prefix=dict(img='imgs/'),
        metainfo=dict(classes=('cat', 'dog')),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=train_pipeline,
    )
)
"""


def run_tool(argv):
    """Run the tool's main; the default scope it sets does not leak to other tests."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        return load_tool().main(argv)


def load_tool():
    spec = importlib.util.spec_from_file_location('browse_dataset_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_dataset(root: Path) -> None:
    (root / 'imgs').mkdir(parents=True)
    images, annotations = [], []
    for i in range(3):
        img = np.full((60, 80, 3), 40 * i, np.uint8)
        cv2.imwrite(str(root / 'imgs' / f'{i}.jpg'), img)
        images.append(dict(id=i, file_name=f'{i}.jpg', height=60, width=80))
        annotations.append(
            dict(
                id=i, image_id=i, category_id=i % 2 + 1, bbox=[10, 10, 50, 40], area=2000, iscrowd=0
            )
        )
    categories = [dict(id=1, name='cat'), dict(id=2, name='dog')]
    ann = dict(images=images, annotations=annotations, categories=categories)
    (root / 'ann.json').write_text(json.dumps(ann))


def test_writes_grid_with_boxes(tmp_path):
    write_dataset(tmp_path / 'data')
    config = tmp_path / 'tiny_browse.py'
    config.write_text(CONFIG.format(root=str(tmp_path / 'data')))
    out = run_tool([str(config), '--output-dir', str(tmp_path / 'out'), '--num', '3'])
    assert out == tmp_path / 'out' / 'browse_tiny_browse.png'
    grid = cv2.imread(str(out))
    # 3 cells of 48x64 in a 2x2 grid with 4-pixel gaps; the fourth stays white.
    assert grid.shape == (2 * 48 + 4, 2 * 64 + 4, 3)
    assert np.all(grid[52:, 68:] == 255)
    # Boxes and labels are drawn in the class colours.
    for label in (0, 1):
        colour = np.array(load_tool().class_colour(label))
        assert np.any(np.all(grid == colour, axis=-1))

    # --cfg-options reaches the pipeline: a 32x32 Resize gives 32x32 cells.
    out = run_tool(
        [
            str(config),
            '--output-dir',
            str(tmp_path / 'out2'),
            '--num',
            '2',
            '--cfg-options',
            'train_dataloader.dataset.pipeline.4.scale=(32,32)',
        ]
    )
    assert cv2.imread(str(out)).shape == (32, 2 * 32 + 4, 3)
