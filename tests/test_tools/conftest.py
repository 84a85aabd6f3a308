"""Fixtures of the tool tests: a tiny generated dataset, the tiny SSD config over
it, one finished training run and one test run of its checkpoint."""

import os.path as osp
from typing import Dict

import pytest
from tools_test_utils import TINY_CONFIG, assert_ok, run_tool

from synthetic_data import SYNTHETIC_CLASSES, generate_synthetic_coco


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory) -> str:
    """A 16 + 8 image synthetic dataset, 128 px."""
    root = str(tmp_path_factory.mktemp('tools_data') / 'synthetic')
    generate_synthetic_coco(root, num_train=16, num_val=8, img_size=128, seed=1, log=lambda _: None)
    return root + '/'


@pytest.fixture(scope='session')
def tiny_config(tiny_data, tmp_path_factory) -> str:
    """Path of the tiny SSD config over ``tiny_data``."""
    path = tmp_path_factory.mktemp('tools_cfg') / 'tiny_ssd.py'
    path.write_text(TINY_CONFIG.format(data_root=tiny_data, classes=SYNTHETIC_CLASSES))
    return str(path)


@pytest.fixture(scope='session')
def trained(tiny_config, tmp_path_factory) -> str:
    """work_dir of an uninterrupted 6-iteration training run (checkpoints at 3 and 6)."""
    work_dir = str(tmp_path_factory.mktemp('tools_train') / 'work')
    assert_ok(run_tool(['train.py', tiny_config, '--work-dir', work_dir]))
    return work_dir


@pytest.fixture(scope='session')
def tested(trained, tiny_config, tmp_path_factory) -> Dict[str, object]:
    """One ``tools/test.py`` run on the tiny checkpoint with ``--show-dir vis --out preds.pkl``."""
    tmp = tmp_path_factory.mktemp('tools_test')
    work_dir, out = str(tmp / 'work'), str(tmp / 'preds.pkl')
    ckpt = osp.join(trained, 'iter_6.pth')
    proc = run_tool(
        ['test.py', tiny_config, ckpt, '--work-dir', work_dir, '--show-dir', 'vis', '--out', out]
    )
    assert_ok(proc)
    return dict(proc=proc, work_dir=work_dir, out=out, checkpoint=ckpt)
