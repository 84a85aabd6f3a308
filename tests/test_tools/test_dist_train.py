"""tools/dist_train.sh: 2 processes on CPU (gloo), identical weights on both ranks."""

import os.path as osp
import socket

import pytest
import torch
from tools_test_utils import ROOT, assert_ok, run_command, tool_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_dist_train_two_cpu_ranks_end_with_identical_weights(tiny_config, tmp_path):
    import sys

    cfg = tmp_path / 'tiny_dump.py'
    # Epoch-based (2 epochs of the 16 tiny images) with RNGStateHook:
    # the end-of-epoch checkpoint gathers every rank's generators, which must not
    # wait on rank 0 alone (Runner.save_checkpoint runs there only).
    cfg.write_text(
        f'_base_ = {tiny_config!r}\n'
        'train_cfg = dict(_delete_=True, type="EpochBasedTrainLoop", max_epochs=2, '
        'val_interval=2)\n'
        'default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))\n'
        "custom_hooks = [dict(type='RNGStateHook'), dict(type='ToolsTestDumpHook')]\n"
    )
    work_dir = str(tmp_path / 'work')
    env = tool_env(dict(PYTHON=sys.executable, PORT=str(_free_port())))
    cmd = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), str(cfg), '2', '--work-dir', work_dir]
    proc = run_command(cmd, env, timeout=180)
    assert_ok(proc)
    assert "using the 'gloo' backend instead of 'nccl'" in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))

    def load(when: str, rank: int) -> dict:
        path = osp.join(work_dir, f'state_{when}_rank{rank}.pth')
        return torch.load(path, map_location='cpu', weights_only=False)

    after0, after1, before0 = load('after', 0), load('after', 1), load('before', 0)
    assert after0['world_size'] == after1['world_size'] == 2
    params = after0['params']
    assert len(params) > 100
    for name in params:  # gradients were all-reduced: every parameter equal on both ranks
        assert torch.equal(after0['state'][name], after1['state'][name]), name
    changed = [n for n in params if not torch.equal(after0['state'][n], before0['state'][n])]
    assert len(changed) > 0.9 * len(params)  # and training moved them
    # BN running stats are rank-local (broadcast_buffers=False): they differ, so the ranks
    # really saw different data and the equal parameters are not a trivial outcome.
    buffers = [n for n in after0['state'] if n.endswith('running_mean')]
    assert any(not torch.equal(after0['state'][n], after1['state'][n]) for n in buffers)
    # The rank-0 checkpoint holds the same weights.
    ckpt = torch.load(osp.join(work_dir, 'epoch_2.pth'), map_location='cpu', weights_only=False)
    assert all(torch.equal(ckpt['state_dict'][n], after0['state'][n]) for n in params)
    # ... and the generator states of both ranks.
    assert len(ckpt['rng_state']) == 2
    assert all({'python', 'numpy', 'torch'} <= set(state) for state in ckpt['rng_state'])
