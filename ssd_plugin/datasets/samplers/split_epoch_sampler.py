"""An epoch that is a part of a pass over the data, for finer-grained schedules."""

import math
from typing import Iterator, Optional, Sized

import torch
from mmengine.dataset import DefaultSampler

from ssd_plugin.registry import DATA_SAMPLERS

__all__ = ['SplitEpochSampler']


@DATA_SAMPLERS.register_module()
class SplitEpochSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` with each pass over the dataset split into
    ``splits`` consecutive epochs.

    Pass ``p`` is one order of the whole dataset (shuffled with ``seed + p``,
    as ``DefaultSampler`` shuffles epoch ``p``); epoch ``e`` takes part
    ``e % splits`` of pass ``e // splits``. So every image is seen once in
    every ``splits`` epochs, while an epoch, and with it everything a runner
    counts in epochs (the schedule, validation, checkpoints, a time budget
    that trains whole epochs), is ``splits`` times finer than the dataset.
    Each part holds ``ceil(N / splits)`` indices: where ``N`` does not divide,
    the pass's order is padded with its own first indices, as
    ``DefaultSampler(round_up=True)`` pads for the world size. Each part is
    then divided among the processes as ``DefaultSampler`` divides an epoch.

    Args:
        dataset: The dataset.
        splits: Epochs per pass over the dataset, at least 1 and at most
            ``len(dataset)``; 1 is ``DefaultSampler(round_up=True)``.
        shuffle: Whether each pass is shuffled.
        seed: The shuffling seed, the same on every process (synchronised
            when None).
    """

    def __init__(
        self, dataset: Sized, splits: int = 2, shuffle: bool = True, seed: Optional[int] = None
    ) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=True)
        if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
            raise ValueError(f'SplitEpochSampler splits must be an int >= 1, got {splits!r}')
        if splits > len(dataset):
            raise ValueError(
                f'SplitEpochSampler splits={splits} is more than the dataset has samples '
                f'({len(dataset)})'
            )
        self.splits = splits
        self.part_size = math.ceil(len(dataset) / splits)
        self.num_samples = math.ceil(self.part_size / self.world_size)
        self.total_size = self.num_samples * self.world_size

    def __iter__(self) -> Iterator[int]:
        """This process's indices of epoch ``self.epoch``."""
        pass_index, part = divmod(self.epoch, self.splits)
        n = len(self.dataset)
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + pass_index)
            order = torch.randperm(n, generator=generator).tolist()
        else:
            order = list(range(n))
        padded = self.part_size * self.splits  # N, or up to splits - 1 more
        order = (order * math.ceil(padded / n))[:padded]
        indices = order[part * self.part_size : (part + 1) * self.part_size]
        # DefaultSampler's round-up for the world size, then this process's share
        indices = (indices * math.ceil(self.total_size / len(indices)))[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.world_size])
