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


def _priors(name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        head = MODELS.build(cfg.model.bbox_head)
    sizes = [(32, 32), (16, 16), (8, 8), (4, 4)]
    return type(head.prior_generator), head.prior_generator.grid_priors(sizes, device='cpu')


def test_demo_baseline_builds_the_demo_default_boxes():
    """mmdet's SSDAnchorGenerator (scale_major=True by default) orders a location's
    boxes differently; the baseline sets scale_major=False so that, with the same
    weights, both configs are the same model."""
    ours_type, ours = _priors('demo/ssd_cspdarknet_synthetic_cpu.py')
    theirs_type, theirs = _priors('baselines/mmdet_ssd_cspdarknet_synthetic_cpu.py')
    assert ours_type.__module__.startswith('ssd_plugin.')
    assert theirs_type.__module__.startswith('mmdet.')
    for level, (a, b) in enumerate(zip(ours, theirs)):
        assert torch.equal(a, b), f'level {level}: max difference {(a - b).abs().max()}'


@pytest.mark.parametrize('scope', ['mmdet', 'ssd_plugin'])
@pytest.mark.parametrize(
    'name', [n for n in CONFIGS if not n.startswith(VGG_CONFIGS)] + ['ssd300_coco.py']
)
def test_config_builds_under_any_default_scope(name, scope):
    """As mmdeploy, sahi and DetInferencer build them: model and test pipeline in the
    scope the tool sets, whatever the config's default_scope."""
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(scope):
        MODELS.build(cfg.model)
        pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    steps = [step['type'] for step in cfg.test_dataloader.dataset.pipeline]
    assert steps[0] == 'LoadImageFromFile' and 'Resize' in steps, steps  # the standard names
    assert len(pipeline.transforms) == len(steps)
