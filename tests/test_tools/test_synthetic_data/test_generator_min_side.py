"""The generator's ``min_side``: tiny-object sets for docs/default_boxes.md."""

import json
import os.path as osp

import numpy as np
import pytest

from synthetic_data import generate_synthetic_coco


def _sides(root: str) -> np.ndarray:
    with open(osp.join(root, 'annotations', 'instances_train.json')) as f:
        anns = json.load(f)['annotations']
    return np.sqrt([a['bbox'][2] * a['bbox'][3] for a in anns])


def test_min_side_makes_smaller_objects(tmp_path):
    common = dict(num_train=12, num_val=0, size_mix=(1.0, 0.0, 0.0), log=lambda _: None)
    default = generate_synthetic_coco(str(tmp_path / 'a'), **common)
    tiny = generate_synthetic_coco(str(tmp_path / 'b'), min_side=5, **common)
    assert 'min_side' not in default['params']  # earlier manifests still match
    assert tiny['params']['min_side'] == 5.0
    a, b = _sides(str(tmp_path / 'a')), _sides(str(tmp_path / 'b'))
    assert (b < 9).sum() >= 5 and np.median(b) < np.median(a)
    assert b.max() < 32  # still COCO-small
    with pytest.raises(ValueError, match='min_side must be in'):
        generate_synthetic_coco(str(tmp_path / 'c'), min_side=2, **common)
