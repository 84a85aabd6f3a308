"""SplitEpochSampler: epochs that are parts of a pass, by hand; the passes are
DefaultSampler's epochs; distributed shares; bad ``splits`` refused by name."""

import re
from unittest import mock

import pytest
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS, DefaultScope

from ssd_plugin.datasets import SplitEpochSampler


def _epochs(sampler, epochs):
    out = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_parts_of_a_pass_by_hand():
    # 5 images, 2 parts of ceil(5 / 2) = 3: the pass's order padded with its first index
    sampler = SplitEpochSampler(list(range(5)), splits=2, shuffle=False, seed=0)
    assert len(sampler) == 3
    assert _epochs(sampler, range(4)) == [[0, 1, 2], [3, 4, 0], [0, 1, 2], [3, 4, 0]]


def test_processes_share_each_part():
    # part [0, 1, 2] padded for 2 processes to [0, 1, 2, 0]; part [3, 4, 0] to [3, 4, 0, 3]
    shares = []
    for rank in (0, 1):
        with mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(rank, 2)):
            sampler = SplitEpochSampler(list(range(5)), splits=2, shuffle=False, seed=0)
        assert len(sampler) == 2
        shares.append(_epochs(sampler, range(2)))
    assert shares == [[[0, 2], [3, 0]], [[1, 0], [4, 3]]]


def test_a_pass_is_default_samplers_epoch():
    dataset = list(range(3000))
    split = SplitEpochSampler(dataset, splits=2, seed=7)
    default = DefaultSampler(dataset, seed=7)
    assert len(split) == 1500
    for pass_index in range(3):
        halves = _epochs(split, (2 * pass_index, 2 * pass_index + 1))
        assert halves[0] + halves[1] == _epochs(default, [pass_index])[0]
    assert _epochs(split, [0]) != _epochs(split, [2])  # each pass its own order


def test_one_split_is_default_sampler():
    dataset = list(range(7))
    assert _epochs(SplitEpochSampler(dataset, splits=1, seed=3), range(3)) == _epochs(
        DefaultSampler(dataset, seed=3), range(3)
    )


@pytest.mark.parametrize(
    'splits, message',
    [
        (0, 'splits must be an int >= 1, got 0'),
        (1.5, 'splits must be an int >= 1, got 1.5'),
        (True, 'splits must be an int >= 1, got True'),
        (6, 'splits=6 is more than the dataset has samples (5)'),
    ],
)
def test_bad_splits_named(splits, message):
    with pytest.raises(ValueError, match=re.escape(f'SplitEpochSampler {message}')):
        SplitEpochSampler(list(range(5)), splits=splits, seed=0)


@pytest.mark.parametrize('scope', ['ssd_plugin', 'mmdet'])
def test_built_from_a_config_in_any_scope(scope):
    with DefaultScope.overwrite_default_scope(scope):
        DefaultScope.get_instance(f'split_epoch_sampler_{scope}', scope_name=scope)
        sampler = DATA_SAMPLERS.build(
            dict(type='ssd_plugin.SplitEpochSampler', splits=2),
            default_args=dict(dataset=list(range(4)), seed=0),
        )
    assert isinstance(sampler, SplitEpochSampler) and len(sampler) == 2
