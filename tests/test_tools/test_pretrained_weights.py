"""Pretrained weights as mmdet treats them: fetched into the download cache when
missing, read from it when there, and a clear stop only when the download fails.

Both runs are offline: the URL is a closed port on this machine, so a download
attempt fails at once, and a run that succeeds cannot have used the network.
"""

import socket
import time

import torch
from model_test_utils import tiny_detector_cfg
from tools_test_utils import ROOT, tool_env


def _closed_port_url(name: str) -> str:
    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/weights/{name}'


def _config(tiny_config: str, tmp_path, url: str) -> str:
    path = tmp_path / 'pretrained.py'
    path.write_text(
        f'_base_ = {tiny_config!r}\n'
        f"model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint={url!r})))\n"
        'train_cfg = dict(max_iters=1, val_interval=1)\n'
    )
    return str(path)


def _train(config: str, tmp_path, torch_home) -> object:
    import subprocess
    import sys

    env = tool_env(dict(TORCH_HOME=str(torch_home)))
    cmd = [sys.executable, f'{ROOT}/tools/train.py', config, '--work-dir', str(tmp_path / 'w')]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_unreachable_pretrained_url_is_tried_then_stops_clearly(tiny_config, tmp_path):
    url = _closed_port_url('backbone-1234abcd.pth')
    config = _config(tiny_config, tmp_path, url)
    torch_home = tmp_path / 'torch_home'
    start = time.monotonic()
    proc = _train(config, tmp_path, torch_home)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    err = proc.stderr
    cached = torch_home / 'hub' / 'checkpoints' / 'backbone-1234abcd.pth'
    assert 'Pretrained weights not available' in err
    assert f'could not be downloaded from {url}' in err and 'Connection refused' in err
    assert f'put it at {cached}' in err
    assert '--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth' in err
    assert '--cfg-options model.backbone.init_cfg=None (train from scratch)' in err
    assert 'internet' not in err.lower()  # no claim about the user's network
    assert elapsed < 60, elapsed  # start-up included; the download fails at once


def test_cached_pretrained_weights_are_used_without_network(tiny_config, tmp_path):
    url = _closed_port_url('backbone-5678abcd.pth')
    config = _config(tiny_config, tmp_path, url)
    torch_home = tmp_path / 'torch_home'
    cached = torch_home / 'hub' / 'checkpoints' / 'backbone-5678abcd.pth'
    cached.parent.mkdir(parents=True)
    from mmengine.registry import MODELS

    backbone = MODELS.build(tiny_detector_cfg()['backbone'])
    torch.save(backbone.state_dict(), cached)
    proc = _train(config, tmp_path, torch_home)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert f'load model from: {url}' in log
    assert 'Downloading' not in log
