"""tools/train.py end to end on the tiny config: training, checkpoints, --resume."""

import os.path as osp
import re

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


@pytest.mark.slow
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


def _derived(tmp_path, tiny_config, name, body):
    path = tmp_path / name
    path.write_text(f'_base_ = {tiny_config!r}\n' + body)
    return str(path)


@pytest.mark.slow
def test_kill_mid_save_leaves_no_truncated_checkpoint_and_resume_takes_the_last_good(
    tiny_config, tmp_path
):
    # max_keep_ckpts=1: mmengine alone deletes iter_3.pth before writing iter_6.pth, so the
    # kill left no checkpoint at all; CheckpointOrderHook deletes it after.
    atomic = (
        'default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, '
        "backend_args=dict(backend='atomic_local')))\n"
    )
    order = "dict(type='ssd_plugin.CheckpointOrderHook')"
    killed_cfg = _derived(
        tmp_path,
        tiny_config,
        'tiny_kill.py',
        atomic + f'custom_hooks = [{order}, dict(type="ToolsTestKillMidSaveHook", kill_at=6)]\n',
    )
    work_dir = tmp_path / 'work'
    killed = run_tool(['train.py', killed_cfg, '--work-dir', str(work_dir)])
    assert killed.returncode == 3, killed.stderr[-3000:]
    names = sorted(p.name for p in work_dir.iterdir())
    assert 'iter_3.pth' in names and 'iter_6.pth' not in names
    assert any(n.startswith('.iter_6.pth.') and n.endswith('.tmp') for n in names)  # mid-write
    assert (work_dir / 'last_checkpoint').read_text().endswith('iter_3.pth')

    resumed = run_tool(
        [
            'train.py',
            _derived(
                tmp_path, tiny_config, 'tiny_atomic.py', atomic + f'custom_hooks = [{order}]\n'
            ),
            '--work-dir',
            str(work_dir),
            '--resume',
        ]  # fmt: skip
    )
    assert_ok(resumed)
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout + resumed.stderr
    ckpt = torch.load(str(work_dir / 'iter_6.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 6
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_6.pth']  # rotated after
    # The killed writer's temporary file was removed at start (its process is gone).
    assert not [p.name for p in work_dir.iterdir() if p.name.endswith('.tmp')]
    assert 'left by an interrupted checkpoint write' in resumed.stdout + resumed.stderr


# Two epochs of 4 batches of the tiny set (no RepeatDataset), no validation.
TWO_EPOCHS = (
    "train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=2, val_interval=10)\n"
    'train_dataloader = dict(dataset=dict(times=1))\n'
)


def _train_then_resume(cfg: str, tmp_path, checkpoint: str):
    """Train ``cfg`` uninterrupted into ``full``, then resume ``full/checkpoint`` into ``part``.

    Returns ``(full, part, output of the resumed run)``.
    """
    full, part = tmp_path / 'full', tmp_path / 'part'
    assert_ok(run_tool(['train.py', cfg, '--work-dir', str(full)]))
    resumed = run_tool(
        ['train.py', cfg, '--work-dir', str(part), '--resume', str(full / checkpoint)]
    )
    assert_ok(resumed)
    return full, part, resumed.stdout + resumed.stderr


def _assert_same_final_state(full, part):
    """The dump hook's parameters and buffers after training are bit-identical."""
    a = torch.load(str(full / 'state_after_rank0.pth'), weights_only=False)['state']
    b = torch.load(str(part / 'state_after_rank0.pth'), weights_only=False)['state']
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_resume_restores_rng_so_the_resumed_run_is_bit_identical(tiny_config, tmp_path):
    # Epoch-based, no replay: without RNGStateHook epoch 2 would redraw epoch 1's flips.
    body = TWO_EPOCHS + (
        'default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))\n'
        "custom_hooks = [dict(type='RNGStateHook'), dict(type='ToolsTestDumpHook')]\n"
    )
    cfg = _derived(tmp_path, tiny_config, 'tiny_epochs.py', body)
    full, part, out = _train_then_resume(cfg, tmp_path, 'epoch_1.pth')
    ckpt = torch.load(str(full / 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert len(ckpt['rng_state']) == 1 and {'python', 'numpy', 'torch'} <= set(ckpt['rng_state'][0])
    assert 'resumed epoch: 1' in out
    _assert_same_final_state(full, part)


@pytest.mark.slow
def test_num_classes_mismatch_stops_before_the_first_iteration(tiny_config, tmp_path):
    body = (
        'model = dict(bbox_head=dict(num_classes=5))\n'
        "custom_hooks = [dict(type='NumClassCheckHook'), dict(type='SSDConfigCheckHook')]\n"
    )
    proc = run_tool(['train.py', _derived(tmp_path, tiny_config, 'tiny_nc.py', body)]
                    + ['--work-dir', str(tmp_path / 'work')])  # fmt: skip
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    # mmdet's NumClassCheckHook, through the RepeatDataset's metainfo.
    assert 'The `num_classes` (5) in SSDHead' in out and '`classes` 6) in RepeatDataset' in out
    assert 'Iter(train) [1/' not in out


@pytest.mark.slow
def test_resume_inside_an_epoch_continues_it_as_the_uninterrupted_run(tiny_config, tmp_path):
    # 2 epochs of 4 batches, a checkpoint every 3 iterations: iter_3.pth is inside epoch 1.
    body = TWO_EPOCHS + (
        'default_hooks = dict(checkpoint=dict(by_epoch=False, interval=3))\n'
        "custom_hooks = [dict(type='RNGStateHook'), dict(type='MidEpochResumeHook'), "
        "dict(type='ToolsTestDumpHook')]\n"
    )
    cfg = _derived(tmp_path, tiny_config, 'tiny_mid_epoch.py', body)
    full, part, out = _train_then_resume(cfg, tmp_path, 'iter_3.pth')
    assert sorted(scalars(str(full))) == list(range(1, 9))
    assert 'resumed epoch: 0, iter: 3' in out and 'resuming epoch 1 at batch 4 of 4' in out
    reference, logged = scalars(str(full)), scalars(str(part))
    assert sorted(logged) == [4, 5, 6, 7, 8]  # not 4..11: batches 1-3 are not trained again
    for step in logged:
        for key in ('loss', 'loss_cls', 'loss_bbox', 'lr'):
            assert logged[step][key] == reference[step][key], (step, key)
    _assert_same_final_state(full, part)


@pytest.mark.slow
def test_diverging_run_skips_nan_steps_and_names_a_finite_checkpoint(tiny_config, tmp_path):
    # The case: lr 1e6. Bad iterations (NaN gradients skipped, BatchNorm statistics
    # overflowed) are undone, the run stops after 2 in a row, and the checkpoint it names (and
    # every one it wrote) has finite weights.
    cfg = _derived(
        tmp_path,
        tiny_config,
        'tiny_nan.py',
        "custom_hooks = [dict(type='InvalidLossGuardHook', max_consecutive=2)]\n"
        'default_hooks = dict(checkpoint=dict(interval=1))\n',
    )
    work_dir = tmp_path / 'work'
    proc = run_tool(
        ['train.py', cfg, '--work-dir', str(work_dir)]
        + ['--cfg-options', 'optim_wrapper.optimizer.lr=1e6']
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and 'FloatingPointError' in out, out[-3000:]
    assert 'bad iteration(s) in a row' in out and '2 iterations in a row' in out, out[-3000:]
    match = re.search(r'last checkpoint with finite weights is (\S+) \(loaded', out)
    assert match, out[-3000:]
    saved = sorted(work_dir.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1]))
    assert saved and match.group(1) == str(saved[-1])
    for path in saved:
        state = torch.load(str(path), map_location='cpu', weights_only=False)['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), path
