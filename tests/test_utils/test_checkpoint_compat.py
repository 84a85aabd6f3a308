"""A checkpoint saved by a real mmengine Runner resumes on torch >= 2.6."""

import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mmengine_checkpoint
from torch.utils.data import Dataset

from ssd_plugin.utils import checkpoint_compat


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(-1) - targets) ** 2).mean())
        return out


class ToyData(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.tensor([idx / 8, 1.0]), targets=torch.tensor(idx / 4))


def make_runner(work_dir, max_iters, resume=False):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='default_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[3], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='ssd_plugin',
    )


@pytest.mark.skipif(not checkpoint_compat.needs_patch(), reason='torch < 2.6: nothing to fix')
def test_runner_checkpoint_needs_the_fix_and_resumes(tmp_path):
    make_runner(tmp_path, max_iters=2).train()
    ckpt = tmp_path / 'iter_2.pth'
    assert ckpt.is_file()
    # The failure mode being fixed: torch's default refuses the Runner checkpoint.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, map_location='cpu')
    assert mmengine_checkpoint.CheckpointLoader._schemes[''] is checkpoint_compat.load_from_local

    runner = make_runner(tmp_path, max_iters=4, resume=True)
    runner.train()
    assert runner.iter == 4
    state = torch.load(tmp_path / 'iter_4.pth', map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 4
    assert 'momentum_buffer' in str(state['optimizer']['state'])
    assert state['param_schedulers'][0]['_global_step'] == 4
    assert state['meta']['seed'] == 0


def test_apply_is_idempotent_and_scoped():
    before = dict(mmengine_checkpoint.CheckpointLoader._schemes)
    checkpoint_compat.apply()
    assert mmengine_checkpoint.CheckpointLoader._schemes == before
    # Remote schemes keep mmengine's own loaders.
    assert mmengine_checkpoint.CheckpointLoader._schemes['http://'] is (
        mmengine_checkpoint.load_from_http
    )
    assert torch.load.__module__ == 'torch.serialization'


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        checkpoint_compat.load_from_local(str(tmp_path / 'nope.pth'))
