"""Every config under configs/ builds, runs a forward/backward pass and predicts."""

from pathlib import Path

import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import MODELS, DefaultScope

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(
    str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts
)


def find_pipeline(cfg):
    """The first ``pipeline`` inside a (possibly wrapped) dataset config."""
    if isinstance(cfg, dict):
        if 'pipeline' in cfg:
            return cfg['pipeline']
        for value in cfg.values():
            found = find_pipeline(value)
            if found is not None:
                return found
    if isinstance(cfg, (list, tuple)):
        for item in cfg:
            found = find_pipeline(item)
            if found is not None:
                return found
    return None


def test_configs_are_found():
    names = set(CONFIGS)
    for required in (
        'ssd300_coco.py',
        'ssd512_coco.py',
        'ssd300_voc0712.py',
        'ssdlite_mobilenetv2_coco.py',
        'ssd300_r50_coco.py',
        'baselines/mmdet_ssd300_coco.py',
    ):
        assert required in names


# VGG16 at 300/512 px takes 10-40 s a config on 2 cores: those run in `make test-all`.
VGG_CONFIGS = (
    'ssd300_coco.py',
    'ssd512_coco.py',
    'ssd300_voc0712.py',
    'baselines/mmdet_ssd',
    'migration/',
)


@pytest.mark.parametrize(
    'name',
    [
        pytest.param(name, marks=pytest.mark.slow) if name.startswith(VGG_CONFIGS) else name
        for name in CONFIGS
    ],
)
def test_config_builds_and_runs(name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    assert cfg.default_scope in ('ssd_plugin', 'mmdet')
    plugin = not name.startswith('baselines/')
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        Compose(find_pipeline(cfg.train_dataloader))  # every transform resolves
        # Offline: no pretrained weights. init_weights() matters, e.g. mmdet's
        # SSDNeck L2Norm weight is uninitialised memory until it runs.
        cfg.model.backbone.init_cfg = None
        model = MODELS.build(cfg.model)
        model.init_weights()
        head_module = type(model.bbox_head).__module__
        assert head_module.startswith('ssd_plugin.' if plugin else 'mmdet.'), head_module
        if not plugin:
            model.bbox_head.loss_cls = None  # mmdet 3.3.0 SSDHead bug; see the baseline configs
        size = cfg.input_size
        packed = demo_mm_inputs(
            2, [(3, size, size)] * 2, num_items=[3, 1], num_classes=model.bbox_head.num_classes
        )
        model.train()
        losses = model(**model.data_preprocessor(packed, True), mode='loss')
        total = sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items() if 'loss' in k)
        total.backward()
        assert torch.isfinite(total) and total > 0
        model.eval()
        with torch.no_grad():
            results = model(**model.data_preprocessor(packed, False), mode='predict')
        assert len(results) == 2
