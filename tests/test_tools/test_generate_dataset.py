"""tools/generate_dataset.py, run as a user does and in-process through ``main(argv)``."""

import json
import os.path as osp
import subprocess
import sys

import pytest
from tools_test_utils import ROOT, load_tool


@pytest.mark.slow  # two interpreter starts, about 9 s on the slow VM
def test_cli_generates_then_skips(tmp_path, capsys):
    out = str(tmp_path / 'cli')
    argv = ['--out', out, '--num-train', '4', '--num-val', '2', '--img-size', '128', '--seed', '0']
    script = osp.join(ROOT, 'tools', 'generate_dataset.py')
    first = subprocess.run(
        [sys.executable, script] + argv, capture_output=True, text=True, check=True
    )
    assert 'dataset written to' in first.stdout
    with open(osp.join(out, 'manifest.json')) as f:
        assert json.load(f)['params']['num_train'] == 4
    cli = load_tool('generate_dataset')
    assert cli.main(argv) == 0
    assert 'not regenerating' in capsys.readouterr().out
    assert cli.main(argv[:-4] + ['--img-size', '64']) == 2
    assert 'at least 128' in capsys.readouterr().err


def test_cli_voc0712_layout(tmp_path, capsys):
    cli = load_tool('generate_dataset')
    out = str(tmp_path / 'voc')
    argv = ['--out', out, '--num-train', '1', '--num-val', '1', '--layout', 'voc0712']
    assert cli.main(argv + ['--workers', '1']) == 0
    assert osp.isfile(osp.join(out, 'VOC2012/ImageSets/Main/trainval.txt'))
