"""tools/train.py end to end on the tiny config: training, checkpoints, --resume."""

import os.path as osp

import pytest
import torch
from tools_test_utils import assert_ok, run_tool, scalars


def test_train_runs_saves_checkpoints_and_loss_decreases(trained):
    for name in ('iter_3.pth', 'iter_6.pth'):
        assert osp.isfile(osp.join(trained, name))
    ckpt = torch.load(osp.join(trained, 'iter_6.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 6
    assert list(ckpt['meta']['dataset_meta']['classes'])[:2] == ['ellipse', 'rectangle']
    assert any(k.startswith('bbox_head.cls_convs.') for k in ckpt['state_dict'])
    logged = scalars(trained)
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    assert logged[6]['loss'] < logged[1]['loss']
    assert logged[5]['lr'] == pytest.approx(0.02) and logged[1]['lr'] == pytest.approx(0.004)


def test_interrupted_run_resumes_to_the_same_losses(trained, tiny_config, tmp_path):
    work_dir = str(tmp_path / 'work')
    stop_cfg = tmp_path / 'tiny_stop.py'
    stop_cfg.write_text(
        f'_base_ = {tiny_config!r}\ncustom_hooks = [dict(type="ToolsTestStopHook", stop_at=3)]\n'
    )
    killed = run_tool(['train.py', str(stop_cfg), '--work-dir', work_dir])
    assert killed.returncode == 3, killed.stderr[-3000:]
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth')) and not osp.exists(
        osp.join(work_dir, 'iter_6.pth')
    )
    assert sorted(scalars(work_dir)) == [1, 2, 3]

    resumed = run_tool(['train.py', tiny_config, '--work-dir', work_dir, '--resume'])
    assert_ok(resumed)
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout + resumed.stderr
    reference, logged = scalars(trained), scalars(work_dir)
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):  # the same model, optimizer, lr schedule and data after resuming
        for key in ('loss', 'loss_cls', 'loss_bbox', 'lr'):
            assert logged[step][key] == pytest.approx(reference[step][key], rel=1e-5), (step, key)
    assert logged[4]['loss'] != pytest.approx(reference[1]['loss'], rel=1e-3)  # not a fresh start
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))
