"""A user config that inherits mmdet's SSD300, SSD512 or SSDLite config and swaps in
only the plugin's head and anchor generator gives mmdet's loss on the same batch (the
migration path of docs/mmdet_compatibility.md). That it trains, tests, infers and
exports through the real tools is covered by tests/test_tools/test_e2e_configs.py,
which runs configs/migration/ like every config."""

import copy
import os.path as osp

import mmdet
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from ssd_plugin.models import SSDHead
from ssd_plugin.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIGRATION = osp.join(ROOT, 'configs', 'migration', 'mmdet_ssd300_coco_plugin_head.py')
MMDET_SSD = osp.join(mmdet.__path__[0], '.mim', 'configs', 'ssd')


def _batch(size: int = 300, counts=(3, 1, 0)):
    """Images ``(B, 3, size, size)`` and their data samples with random boxes."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(len(counts), 3, size, size, generator=g) * 255
    samples = []
    for n in counts:
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                pad_shape=(size, size),
                batch_input_shape=(size, size),
                scale_factor=(1.0, 1.0),
            )
        )
        xy = torch.rand(n, 2, generator=g) * size * 0.6
        wh = torch.rand(n, 2, generator=g) * size * 0.3 + 8
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1), labels=torch.randint(0, 80, (n,), generator=g)
        )
        samples.append(sample)
    return images, samples


def _build(path: str):
    cfg = Config.fromfile(path)
    if cfg.model.backbone.get('init_cfg', {}).get('type') == 'Pretrained':
        cfg.model.backbone.init_cfg = None  # no download
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    return cfg, model


@pytest.mark.slow
@pytest.mark.parametrize(
    'mmdet_config, size',
    [
        ('ssd300_coco.py', 300),
        ('ssd512_coco.py', 512),
        ('ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', 320),
    ],
)
def test_mmdet_config_with_the_plugin_head_gives_mmdets_loss(mmdet_config, size, tmp_path):
    if mmdet_config == 'ssd300_coco.py':
        migration = MIGRATION  # the shipped example
    else:  # the same two lines over another of mmdet's SSD configs
        migration = tmp_path / 'migration.py'
        text = open(MIGRATION).read().replace('ssd/ssd300_coco.py', f'ssd/{mmdet_config}')
        migration.write_text(text)
    cfg, ours = _build(str(migration))
    _, theirs = _build(osp.join(MMDET_SSD, mmdet_config))
    assert cfg.default_scope == 'mmdet'  # mmdet's config as it is
    assert isinstance(ours.bbox_head, SSDHead)
    assert type(theirs.bbox_head).__module__ == 'mmdet.models.dense_heads.ssd_head'
    torch.manual_seed(0)
    ours.init_weights()  # as the Runner does (L2Norm's weight is uninitialised before)
    theirs.load_state_dict(ours.state_dict())
    images, samples = _batch(size)
    ours.train(), theirs.train()
    a = ours.loss(images, copy.deepcopy(samples))
    b = theirs.loss(images, copy.deepcopy(samples))
    assert set(a) == set(b) == {'loss_cls', 'loss_bbox'}
    for key in a:
        assert len(a[key]) == len(b[key]) == 3  # mmdet's per-image lists
        for ours_image, theirs_image in zip(a[key], b[key]):
            assert float(ours_image) == pytest.approx(float(theirs_image), rel=1e-5, abs=1e-6)
    assert float(sum(a['loss_cls'])) > 0
