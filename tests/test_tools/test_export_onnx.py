"""tools/export_onnx.py on the tiny config: a runnable ONNX file with metadata,
checked against PyTorch; clear errors for missing inputs."""

import json

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from tools_test_utils import load_tool

from ssd_plugin.registry import MODELS

ort = pytest.importorskip('onnxruntime')


def test_export_writes_a_verified_onnx_model(tiny_config, tmp_path, capsys):
    cfg = Config.fromfile(tiny_config)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = tmp_path / 'tiny.pth'
    meta = dict(dataset_meta=dict(classes=list(cfg.metainfo['classes'])))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), str(ckpt))
    out = tmp_path / 'tiny.onnx'
    tool = load_tool('export_onnx')
    args = [tiny_config, str(ckpt), '--out', str(out), '--input-size', '128', '128']
    assert tool.main(args + ['--cfg-options', 'model.test_cfg.score_thr=0.0']) == 0
    assert 'onnxruntime matches PyTorch' in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [i.shape for i in session.get_inputs()] == [[1, 3, 128, 128]]
    assert [o.name for o in session.get_outputs()] == ['dets', 'labels']
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props['classes']) == list(cfg.metainfo['classes'])
    assert json.loads(props['bgr_to_rgb']) is True and len(json.loads(props['mean'])) == 3


def test_missing_checkpoint_is_a_clear_error(tiny_config, tmp_path, capsys):
    tool = load_tool('export_onnx')
    assert tool.main([tiny_config, str(tmp_path / 'none.pth'), '--out', 'x.onnx']) == 2
    assert 'none.pth' in capsys.readouterr().err
