import subprocess
import sys
import textwrap

import mmdet.models.dense_heads.ssd_head as mmdet_ssd_head
import pytest
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmengine.registry import DefaultScope

import ssd_plugin
from ssd_plugin.registry import DATASETS, METRICS, MODELS, TASK_UTILS, TRANSFORMS

HEAD = dict(
    num_classes=3,
    in_channels=(8, 8),
    anchor_generator=dict(
        type='SSDAnchorGenerator',
        strides=[8, 16],
        ratios=[[2], [2]],
        min_sizes=[8, 16],
        max_sizes=[16, 32],
    ),
)


def test_default_scope_is_plugin():
    assert DefaultScope.get_current_instance().scope_name == 'ssd_plugin'
    assert MODELS.scope == TASK_UTILS.scope == TRANSFORMS.scope == 'ssd_plugin'
    assert MODELS.parent is MMDET_MODELS


@pytest.mark.parametrize(
    'registry,name',
    [
        (MODELS, 'SSDHead'),
        (TASK_UTILS, 'SSDAnchorGenerator'),
        (TASK_UTILS, 'SSDMaxIoUAssigner'),
        (TASK_UTILS, 'SSDPseudoSampler'),
        (TRANSFORMS, 'Expand'),
        (TRANSFORMS, 'MinIoURandomCrop'),
        (TRANSFORMS, 'PhotoMetricDistortion'),
    ],
)
def test_plugin_components_resolve_by_plain_name(registry, name):
    cls = registry.get(name)
    assert cls.__module__.startswith('ssd_plugin.'), cls


def test_plugin_head_builds_by_plain_name_and_mmdet_head_with_prefix():
    ours = MODELS.build(dict(type='SSDHead', **HEAD))
    theirs = MODELS.build(dict(type='mmdet.SSDHead', _scope_='mmdet', **HEAD))
    assert type(ours) is ssd_plugin.models.SSDHead
    assert type(theirs) is mmdet_ssd_head.SSDHead
    # Same process, side by side; the baseline's nested parts are mmdet's too.
    assert type(theirs.prior_generator).__module__.startswith('mmdet.')
    assert type(ours.prior_generator).__module__.startswith('ssd_plugin.')


def test_mmdet_registries_are_not_overwritten():
    assert MMDET_MODELS.get('SSDHead') is mmdet_ssd_head.SSDHead
    for registry in (MMDET_MODELS, MMDET_TASK_UTILS, MMDET_TRANSFORMS):
        for name, cls in registry.module_dict.items():
            assert not cls.__module__.startswith('ssd_plugin'), (registry.name, name)


def test_mmdet_components_build_with_prefix(tmp_path):
    resnet = MODELS.build(dict(type='mmdet.ResNet', depth=18))
    assert type(resnet).__module__.startswith('mmdet.')
    coder = TASK_UTILS.build(dict(type='DeltaXYWHBBoxCoder'))  # falls back to mmdet
    assert type(coder).__module__.startswith('mmdet.')
    dataset = DATASETS.build(
        dict(type='mmdet.CocoDataset', ann_file=str(tmp_path / 'a.json'), lazy_init=True)
    )
    assert type(dataset).__name__ == 'CocoDataset'
    assert METRICS.get('CocoMetric').__module__.startswith('mmdet.')
    # The assigner's internal build of BboxOverlaps2D resolves from our scope.
    assigner = TASK_UTILS.build(dict(type='SSDMaxIoUAssigner'))
    assert type(assigner.iou_calculator).__name__ == 'BboxOverlaps2D'


def test_register_all_modules_like_mmdet():
    from ssd_plugin import register_all_modules

    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.warns(UserWarning, match='switches it to "ssd_plugin"'):
            register_all_modules(init_default_scope=True)
        assert DefaultScope.get_current_instance().scope_name == 'ssd_plugin'
    register_all_modules(init_default_scope=False)


@pytest.mark.slow
def test_config_with_custom_imports_from_plain_mmdet(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        textwrap.dedent(f"""
        custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
        default_scope = 'ssd_plugin'
        head = dict(type='SSDHead', **{HEAD!r})
    """)
    )
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=False)  # what mmdet's tools/train.py does
        assert 'ssd_plugin' not in sys.modules
        cfg = Config.fromfile({str(cfg_file)!r})
        assert 'ssd_plugin' in sys.modules
        init_default_scope(cfg.default_scope)
        head = MODELS.build(cfg.head)
        print(type(head).__module__)
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == 'ssd_plugin.models.dense_heads.ssd_head'
