import math

import pytest
import torch
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS

from ssd_plugin.models import SSDAnchorGenerator
from ssd_plugin.registry import TASK_UTILS

SSD300 = dict(
    strides=[8, 16, 32, 64, 100, 300],
    ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]],
    basesize_ratio_range=(0.15, 0.9),
    input_size=300,
)
SSD300_VOC = dict(SSD300, basesize_ratio_range=(0.2, 0.9))
SSD512 = dict(
    strides=[8, 16, 32, 64, 128, 256, 512],
    ratios=[[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]],
    basesize_ratio_range=(0.1, 0.9),
    input_size=512,
)
SSDLITE = dict(
    strides=[16, 32, 64, 107, 160, 320],
    ratios=[[2, 3]] * 6,
    min_sizes=[48, 100, 150, 202, 253, 304],
    max_sizes=[100, 150, 202, 253, 304, 320],
)
FEATS = {
    'ssd300': [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)],
    'ssd512': [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)],
    'ssdlite': [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)],
}


def test_published_ssd300_sizes():
    gen = SSDAnchorGenerator(**SSD300)
    assert gen.min_sizes == [21, 45, 99, 153, 207, 261]
    assert gen.max_sizes == [45, 99, 153, 207, 261, 315]
    assert gen.num_base_priors == [4, 6, 6, 6, 4, 4]


@pytest.mark.parametrize(
    'cfg,feats,total',
    [(SSD300, FEATS['ssd300'], 8732), (SSD512, FEATS['ssd512'], 24564)],
)
def test_default_box_counts(cfg, feats, total):
    priors = SSDAnchorGenerator(**cfg).grid_priors(feats, device='cpu')
    assert sum(p.size(0) for p in priors) == total


@pytest.mark.parametrize(
    'name,cfg',
    [('ssd300', SSD300), ('ssd300', SSD300_VOC), ('ssd512', SSD512), ('ssdlite', SSDLITE)],
)
def test_equals_mmdet_element_for_element(name, cfg):
    ours = TASK_UTILS.build(dict(type='SSDAnchorGenerator', scale_major=False, **cfg))
    # `_scope_='mmdet'`: under the default scope ssd_plugin even mmdet's registry
    # resolves plain names to the plugin.
    theirs = MMDET_TASK_UTILS.build(
        dict(type='SSDAnchorGenerator', _scope_='mmdet', scale_major=False, **cfg)
    )
    assert type(theirs).__module__.startswith('mmdet.')
    ours_priors = ours.grid_priors(FEATS[name], device='cpu')
    theirs_priors = theirs.grid_priors(FEATS[name], device='cpu')
    for level, (a, b) in enumerate(zip(ours_priors, theirs_priors)):
        assert torch.equal(a, b), f'level {level} differs'
    pad = (300, 300) if name != 'ssd512' else (512, 512)
    for a, b in zip(
        ours.valid_flags(FEATS[name], pad, 'cpu'), theirs.valid_flags(FEATS[name], pad, 'cpu')
    ):
        assert torch.equal(a, b)


def test_paper_formula_hand_computed():
    # Eq. 4 with s_min 0.2, s_max 0.9, m 6: s_k = 0.2 + 0.14 (k - 1).
    gen = SSDAnchorGenerator(
        strides=[300 / f for f in (38, 19, 10, 5, 3, 1)],
        ratios=[[2, 3]] * 6,
        basesize_ratio_range=(0.2, 0.9),
        input_size=300,
        size_mode='paper',
    )
    assert gen.min_sizes == pytest.approx([60, 102, 144, 186, 228, 270])
    assert gen.max_sizes == pytest.approx([102, 144, 186, 228, 270, 312])
    base = gen.base_anchors[0]  # 6 boxes at the first location of the 38x38 map
    wh = base[:, 2:] - base[:, :2]
    s, s_next = 60.0, 102.0
    expected = [
        (s, s),
        (math.sqrt(s * s_next), math.sqrt(s * s_next)),  # s'_k = sqrt(s_k s_k+1)
        (s * math.sqrt(2), s / math.sqrt(2)),  # a_r = 2: w = s sqrt(a), h = s / sqrt(a)
        (s / math.sqrt(2), s * math.sqrt(2)),  # a_r = 1/2
        (s * math.sqrt(3), s / math.sqrt(3)),
        (s / math.sqrt(3), s * math.sqrt(3)),
    ]
    assert wh.flatten().tolist() == pytest.approx([v for e in expected for v in e], rel=1e-5)
    # Centre of cell (i, j) at ((i + 0.5) / |f_k|, (j + 0.5) / |f_k|) of the image.
    priors = gen.grid_priors([(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)], device='cpu')
    centre = (priors[0][6 * (38 * 2 + 5)][:2] + priors[0][6 * (38 * 2 + 5)][2:]) / 2
    assert centre.tolist() == pytest.approx([(5 + 0.5) / 38 * 300, (2 + 0.5) / 38 * 300])
    assert priors[5][0].tolist() == pytest.approx([150 - 135, 150 - 135, 150 + 135, 150 + 135])


def test_any_input_size_and_levels_in_paper_mode():
    gen = SSDAnchorGenerator(
        strides=[16, 32, 64],
        ratios=[[2]] * 3,
        basesize_ratio_range=(0.3, 0.9),
        input_size=256,
        size_mode='paper',
    )
    assert gen.min_sizes == pytest.approx([76.8, 153.6, 230.4])
    gen.check_featmap_sizes([(16, 16), (8, 8), (4, 4)], (256, 256))


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(strides=[8, 16], ratios=[[2]]), r'2 strides \[8, 16\] but 1 ratio'),
        (
            dict(strides=[8, 16, 32], ratios=[[2]] * 3, min_sizes=[1, 2], max_sizes=[2, 3]),
            r'3 levels .* 2 min_sizes',
        ),
        (dict(strides=[8, 16, 32], ratios=[[2]] * 3, input_size=320), r'input_size=320'),
        (dict(strides=[8, 16], ratios=[[2], [0]]), r'ratios\[1\]=\[0\]'),
    ],
)
def test_bad_config_errors_name_the_numbers(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSDAnchorGenerator(**kwargs)


def test_featmap_mismatch_errors_name_the_numbers():
    gen = SSDAnchorGenerator(**SSD300)
    with pytest.raises(ValueError, match=r'5 feature maps .* 6 levels'):
        gen.check_featmap_sizes(FEATS['ssd300'][:5], (300, 300))
    bad = list(FEATS['ssd300'])
    bad[2] = (9, 9)
    with pytest.raises(
        ValueError, match=r'Level 2: feature map 9x9 but stride 32x32 .* needs 10x10'
    ):
        gen.check_featmap_sizes(bad, (300, 300))


def test_misspelled_argument_is_named_with_a_hint():
    cfg = dict(type='SSDAnchorGenerator', strides=[8, 16], ratios=[[2], [2]], input_sise=300)
    with pytest.raises(TypeError, match=r"unknown key 'input_sise' \(did you mean 'input_size'"):
        TASK_UTILS.build(cfg)
