import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from ssd_plugin.engine import InvalidLossGuardHook, MMDetSSDHeadCompatHook
from ssd_plugin.registry import HOOKS


def _runner(tmp_path, it=4):
    return SimpleNamespace(iter=it, epoch=0, work_dir=str(tmp_path), model=SimpleNamespace())


def test_guard_passes_finite_and_stops_on_nan_naming_last_checkpoint(tmp_path):
    hook = HOOKS.build(dict(type='InvalidLossGuardHook'))
    runner = _runner(tmp_path)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0)))
    (tmp_path / 'last_checkpoint').write_text(osp.join(str(tmp_path), 'epoch_3.pth'))
    with pytest.raises(FloatingPointError, match=r"iteration 5 .*'loss_cls': nan.*epoch_3.pth"):
        hook.after_train_iter(
            runner,
            0,
            outputs=dict(loss=torch.tensor(float('nan')), loss_cls=torch.tensor(float('nan'))),
        )
    with pytest.raises(FloatingPointError, match='inf'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))


def test_guard_interval():
    hook = InvalidLossGuardHook(interval=2)
    runner = SimpleNamespace(iter=0, epoch=0, work_dir='/nonexistent')
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('nan'))))  # skipped
    with pytest.raises(ValueError):
        InvalidLossGuardHook(interval=0)


def test_compat_hook_sets_loss_cls_only_when_missing(tmp_path):
    head = SimpleNamespace()
    runner = _runner(tmp_path)
    runner.model = SimpleNamespace(bbox_head=head)
    MMDetSSDHeadCompatHook().before_run(runner)
    assert head.loss_cls is None
    head.loss_cls = 'kept'
    MMDetSSDHeadCompatHook().before_run(runner)
    assert head.loss_cls == 'kept'
