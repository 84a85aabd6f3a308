"""Fixtures of the default-box tests."""

from typing import Callable, Sequence

import pytest
from default_boxes_test_utils import CONFIG, write_coco


@pytest.fixture
def make_config(tmp_path) -> Callable:
    """``make_config(images, boxes, extra='')`` -> path of a config over a written COCO file."""

    def make(images: Sequence, boxes: Sequence, extra: str = '') -> str:
        root = tmp_path / 'data'
        (root / 'annotations').mkdir(parents=True, exist_ok=True)
        write_coco(str(root / 'annotations' / 'train.json'), images, boxes)
        path = tmp_path / 'cfg.py'
        path.write_text(CONFIG.format(data_root=str(root) + '/') + extra)
        return str(path)

    return make
