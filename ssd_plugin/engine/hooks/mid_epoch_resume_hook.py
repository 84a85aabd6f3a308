"""Resume an epoch-based run at the batch after its checkpoint, not at the epoch's start."""

import copy
import logging
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop

from ssd_plugin.registry import HOOKS

__all__ = ['MidEpochResumeHook', 'remaining_indices']

POSITION_KEY = 'resume_position'


class _Recorder:
    """An index source that counts how many indices were taken from it."""

    def __init__(self, order: Sequence[int], dataset: Any) -> None:
        self.order = order
        self.dataset = dataset  # batch samplers such as AspectRatioBatchSampler read it
        self.taken = 0

    def __iter__(self) -> Iterator[int]:
        for index in self.order:
            self.taken += 1
            yield index

    def __len__(self) -> int:
        return len(self.order)


def remaining_indices(batch_sampler: Any, order: Sequence[int], done: int) -> List[int]:
    """The indices to feed ``batch_sampler`` so that it yields what follows its batch ``done``.

    ``batch_sampler`` is run (on a copy, over ``order``, the sampler's index
    order of the epoch) until it has yielded ``done`` batches. The indices it
    had taken but not yet put in a batch (those a bucketing batch sampler
    such as mmdet's ``AspectRatioBatchSampler`` holds back) come first, then
    the indices it had not taken. Fed with them from empty buckets, it
    refills its buckets as they were and yields the same batches as the
    uninterrupted epoch from batch ``done + 1`` on; for torch's
    ``BatchSampler`` this is simply ``order[done * batch_size:]``.

    Args:
        batch_sampler: The dataloader's batch sampler; it reads indices from
            its ``sampler`` attribute.
        order: The sampler's indices of this epoch, in order.
        done: Batches already trained.

    Returns:
        The index order for the rest of the epoch.
    """
    dataset = getattr(batch_sampler.sampler, 'dataset', None)
    recorder = _Recorder(order, dataset)
    memo = {id(batch_sampler.sampler): recorder}
    if dataset is not None:
        memo[id(dataset)] = dataset  # shared, not copied
    simulated = copy.deepcopy(batch_sampler, memo)
    emitted: Counter = Counter()
    batches = iter(simulated)
    for _ in range(done):
        try:
            emitted.update(next(batches))
        except StopIteration:
            return []  # the whole epoch was trained
    held_back = []
    for index in order[: recorder.taken]:
        if emitted[index]:
            emitted[index] -= 1
        else:
            held_back.append(index)
    return held_back + list(order[recorder.taken :])


class _ResumedEpochSampler:
    """Stands in for the batch sampler's sampler during the resumed epoch.

    Its one pass yields :func:`remaining_indices`; everything else (``dataset``,
    ``set_epoch``, ``seed``, ``len``) is the real sampler's.
    """

    def __init__(self, sampler: Any, batch_sampler: Any, done: int) -> None:
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.done = done

    def __getattr__(self, name: str) -> Any:
        if name in ('sampler', 'batch_sampler', 'done'):
            raise AttributeError(name)
        return getattr(self.sampler, name)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[int]:
        order = list(self.sampler)
        yield from remaining_indices(self.batch_sampler, order, self.done)


@HOOKS.register_module()
class MidEpochResumeHook(Hook):
    """Make ``--resume`` from a checkpoint saved inside an epoch continue that epoch.

    mmengine's ``EpochBasedTrainLoop`` resumes at the start of the epoch of
    the checkpoint: with checkpoints by iteration
    (``CheckpointHook(by_epoch=False)``) the batches trained before the
    checkpoint are trained again, the iteration count overshoots, and the
    run differs from an uninterrupted one. This hook:

    * records in every checkpoint (``checkpoint['resume_position']``) how many
      batches of the current epoch were trained, with the batch size, the
      world size and the sampler's seed;
    * on resume, gives the batch sampler (torch's ``BatchSampler`` that
      mmengine builds, or one such as mmdet's ``AspectRatioBatchSampler``)
      for the rest of that epoch exactly the indices it would still have
      taken (:func:`remaining_indices`), over the same shuffle order
      (``DefaultSampler``'s ``seed + epoch``; the checkpoint's seed is put
      back if the sampler drew another one). No data is loaded for the
      skipped batches. Every rank does the same with its own part of the
      data, so distributed runs resume exactly too;
    * from the next epoch on, leaves the sampler as it was.

    With ``RNGStateHook`` (the random generators) and ``num_workers=0``, the
    resumed run is bit-identical to an uninterrupted one. If the world size
    or batch size changed, the same number of samples is skipped, rounded
    down to whole batches, with a warning. With ``IterBasedTrainLoop``
    nothing is done: mmengine replays the dataloader itself. In the resumed
    epoch the loop counts batches from 1 again (``batch_idx`` of the hooks
    and the ``[i/N]`` of the log); the iteration count is right.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) in every stage

    def __init__(self) -> None:
        self._offset = 0  # batches of the current epoch trained before a resume
        self._done = 0  # batches of the current epoch trained so far
        self._position: Optional[Dict] = None
        self._installed = None  # (batch sampler, real sampler) during a resumed epoch

    @staticmethod
    def _batch_sampler(runner) -> Any:
        return getattr(runner.train_loop.dataloader, 'batch_sampler', None)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._done = self._offset + batch_idx + 1

    def after_train_epoch(self, runner) -> None:
        self._done = self._offset = 0
        if self._installed is not None:
            batch_sampler, sampler = self._installed
            batch_sampler.sampler = sampler
            self._installed = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record where in its epoch the checkpoint is."""
        batch_sampler = self._batch_sampler(runner)
        sampler = getattr(batch_sampler, 'sampler', None)
        checkpoint[POSITION_KEY] = dict(
            epoch=checkpoint.get('meta', {}).get('epoch', runner.epoch),
            batches=self._done,
            batch_size=getattr(batch_sampler, 'batch_size', None),
            world_size=runner.world_size,
            seed=getattr(sampler, 'seed', None),
        )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._position = checkpoint.get(POSITION_KEY)

    def before_train(self, runner) -> None:
        """Set the rest of the checkpoint's epoch up, when resuming inside one."""
        position, self._position = self._position, None
        if position is None or (runner.iter == 0 and runner.epoch == 0):
            return  # nothing loaded, or ``load_from`` without resume
        done = int(position.get('batches') or 0)
        if done == 0 or isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        if position.get('epoch') != runner.epoch:
            print_log(
                f'MidEpochResumeHook: the checkpoint records epoch {position.get("epoch")}, '
                f'the run resumes at epoch {runner.epoch}; the epoch starts from its first batch',
                logger='current',
                level=logging.WARNING,
            )
            return
        batch_sampler = self._batch_sampler(runner)
        sampler = getattr(batch_sampler, 'sampler', None)
        if sampler is None:
            print_log(
                'MidEpochResumeHook: the train dataloader has no batch sampler with a '
                f'`sampler`; epoch {runner.epoch + 1} restarts from its first batch, and '
                f'the {done} batches trained before the checkpoint are trained again',
                logger='current',
                level=logging.WARNING,
            )
            return
        old = (position.get('batch_size'), position.get('world_size'))
        new = (getattr(batch_sampler, 'batch_size', None), runner.world_size)
        if None not in old + new and old != new:
            skipped = done * old[0] * old[1] // (new[0] * new[1])
            print_log(
                f'MidEpochResumeHook: the checkpoint was saved with batch size {old[0]} on '
                f'{old[1]} processes, this run has {new[0]} on {new[1]}: skipping {skipped} '
                f'batches ({done} before), the same number of samples rounded down; the order '
                'of the samples is not the same as without the interruption',
                logger='current',
                level=logging.WARNING,
            )
            done = skipped
        seed = position.get('seed')
        if seed is not None and getattr(sampler, 'seed', seed) != seed:
            print_log(
                f'MidEpochResumeHook: the sampler seed {sampler.seed} differs from the '
                f"checkpoint's {seed}; using {seed}, for the same shuffle order",
                logger='current',
            )
            sampler.seed = seed
        batch_sampler.sampler = _ResumedEpochSampler(sampler, batch_sampler, done)
        self._installed = (batch_sampler, sampler)
        self._offset = done
        print_log(
            f'MidEpochResumeHook: resuming epoch {runner.epoch + 1} at batch {done + 1} of '
            f'{len(runner.train_loop.dataloader)} (the batches before it were trained before '
            'the checkpoint)',
            logger='current',
        )
