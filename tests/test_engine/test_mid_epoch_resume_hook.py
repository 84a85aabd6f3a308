"""MidEpochResumeHook: the resumed epoch yields exactly the batches the interrupted one had left."""

from types import SimpleNamespace

import pytest
from mmdet.datasets.samplers import AspectRatioBatchSampler
from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import BatchSampler, DataLoader

from ssd_plugin.datasets import SplitEpochSampler
from ssd_plugin.engine import MidEpochResumeHook
from ssd_plugin.engine.hooks.mid_epoch_resume_hook import POSITION_KEY, _ResumedEpochSampler


class _Images:
    """23 images, a mix of portrait and landscape (two AspectRatioBatchSampler buckets)."""

    def __len__(self):
        return 23

    def __getitem__(self, idx):
        return idx

    def get_data_info(self, idx):
        return dict(width=100, height=60 if idx % 3 else 140)


def _sampler(monkeypatch, rank=0, world_size=1, seed=7, epoch=2, split=False):
    import mmengine.dataset.sampler as sampler_module

    monkeypatch.setattr(sampler_module, 'get_dist_info', lambda: (rank, world_size))
    if split:  # the demo's: epoch 3 is the second half of pass 1
        sampler = SplitEpochSampler(_Images(), splits=2, shuffle=True, seed=seed)
        epoch = 3
    else:
        sampler = DefaultSampler(_Images(), shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return sampler


@pytest.mark.parametrize('split', [False, True])
@pytest.mark.parametrize('kind', ['batch', 'aspect_ratio'])
@pytest.mark.parametrize('rank,world_size', [(0, 1), (0, 2), (1, 2)])
def test_resumed_epoch_yields_the_remaining_batches_of_the_same_order(
    monkeypatch, kind, rank, world_size, split
):
    def batch_sampler(sampler):
        if kind == 'batch':
            return BatchSampler(sampler, batch_size=3, drop_last=False)
        return AspectRatioBatchSampler(sampler, batch_size=3)

    full = list(batch_sampler(_sampler(monkeypatch, rank, world_size, split=split)))
    if kind == 'aspect_ratio':  # the buckets hold indices back: not simply order[k * 3:]
        flat = [i for b in full for i in b]
        assert flat != list(_sampler(monkeypatch, rank, world_size, split=split))
    for done in range(len(full) + 1):
        sampler = _sampler(monkeypatch, rank, world_size, split=split)
        resumed = batch_sampler(sampler)
        resumed.sampler = _ResumedEpochSampler(sampler, resumed, done)
        assert len(resumed) == len(full)  # the epoch's length is unchanged
        assert list(resumed) == full[done:], (done, full)


def test_hook_records_the_position_and_resumes_inside_the_epoch(monkeypatch):
    def runner_with_loader(sampler, it, epoch):
        loader = DataLoader(_Images(), batch_size=3, sampler=sampler, collate_fn=list)
        loop = object.__new__(EpochBasedTrainLoop)
        loop.dataloader = loader
        return SimpleNamespace(iter=it, epoch=epoch, world_size=1, train_loop=loop), loader

    full = [list(b) for b in runner_with_loader(_sampler(monkeypatch), 0, 2)[1]]
    runner, _ = runner_with_loader(_sampler(monkeypatch), 10, 2)
    hook = MidEpochResumeHook()
    for batch_idx in range(3):
        hook.after_train_iter(runner, batch_idx)
    checkpoint = dict(meta=dict(epoch=2, iter=11))
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint[POSITION_KEY] == dict(epoch=2, batches=3, batch_size=3, world_size=1, seed=7)

    # A new process: the sampler drew another seed; resume at iteration 11 of epoch 2.
    fresh = _sampler(monkeypatch, seed=1234)
    runner, loader = runner_with_loader(fresh, 11, 2)
    resumed = MidEpochResumeHook()
    resumed.after_load_checkpoint(runner, checkpoint)
    resumed.before_train(runner)
    assert fresh.seed == 7
    assert [list(b) for b in loader] == full[3:]
    resumed.after_train_iter(runner, 0)
    later = dict(meta=dict(epoch=2, iter=12))
    resumed.before_save_checkpoint(runner, later)
    assert later[POSITION_KEY]['batches'] == 4  # counted from the epoch's start
    resumed.after_train_epoch(runner)
    assert loader.batch_sampler.sampler is fresh  # the next epochs are whole
    assert len([list(b) for b in loader]) == len(full)

    # Iteration-based loops and end-of-epoch checkpoints are left alone.
    for loop_cls, position in ((IterBasedTrainLoop, 3), (EpochBasedTrainLoop, 0)):
        runner, loader = runner_with_loader(_sampler(monkeypatch), 11, 2)
        runner.train_loop.__class__ = loop_cls
        other = MidEpochResumeHook()
        other.after_load_checkpoint(runner, {POSITION_KEY: dict(checkpoint[POSITION_KEY],
                                                                batches=position)})  # fmt: skip
        other.before_train(runner)
        assert not isinstance(loader.batch_sampler.sampler, _ResumedEpochSampler)


def test_changed_batch_size_skips_the_same_number_of_samples(monkeypatch):
    loader = DataLoader(_Images(), batch_size=6, sampler=_sampler(monkeypatch), collate_fn=list)
    loop = object.__new__(EpochBasedTrainLoop)
    loop.dataloader = loader
    runner = SimpleNamespace(iter=5, epoch=2, world_size=1, train_loop=loop)
    hook = MidEpochResumeHook()
    position = dict(epoch=2, batches=5, batch_size=3, world_size=1, seed=7)  # 15 samples
    hook.after_load_checkpoint(runner, {POSITION_KEY: position})
    hook.before_train(runner)
    batches = list(loader)
    assert sum(len(b) for b in batches) == 23 - 12  # 2 whole batches of 6 skipped
