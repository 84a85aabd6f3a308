"""The demo's configs name the generator's classes, in its category order: they write the
tuple out (a config cannot import ``tools/``), so this test keeps the two in step."""

from pathlib import Path

import pytest
from mmengine.config import Config

from synthetic_data import SYNTHETIC_CLASSES

DEMO_CONFIGS = sorted((Path(__file__).resolve().parents[3] / 'configs' / 'demo').glob('*.py'))


def test_every_demo_config_is_checked():
    assert len(DEMO_CONFIGS) >= 2


@pytest.mark.parametrize('path', DEMO_CONFIGS, ids=lambda p: p.name)
def test_demo_config_classes_are_the_generators(path):
    cfg = Config.fromfile(str(path))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        while 'metainfo' not in dataset:  # inside a dataset wrapper
            dataset = dataset.dataset
        assert tuple(dataset.metainfo.classes) == SYNTHETIC_CLASSES, (path.name, loader)
    assert cfg.model.bbox_head.num_classes == len(SYNTHETIC_CLASSES)
