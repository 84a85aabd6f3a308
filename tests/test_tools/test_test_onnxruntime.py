"""``tools/test.py --backend onnxruntime``: the exported demo model evaluated by the
config's own test loop and COCO evaluator, as a subprocess; clear errors."""

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from tools_test_utils import ROOT, assert_ok, run_tool

from ssd_plugin.apis.onnx_export import export_onnx
from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS

pytest.importorskip('onnxruntime')
DEMO = 'configs/demo/ssd_cspdarknet_synthetic_cpu.py'


def _demo_onnx(path: str, size: int) -> str:
    cfg = Config.fromfile(f'{ROOT}/{DEMO}')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    model.dataset_meta = dict(classes=tuple(cfg.classes))
    export_onnx(SSDOnnxWrapper(model.eval(), (size, size)), path)
    return path


def _data_options(tiny_data: str):
    return [
        '--cfg-options',
        f'test_dataloader.dataset.data_root={tiny_data}',
        f'test_evaluator.ann_file={tiny_data}annotations/instances_val.json',
    ]


@pytest.mark.slow
def test_onnxruntime_backend_prints_coco_metrics(tiny_data, tmp_path):
    onnx_file = _demo_onnx(str(tmp_path / 'demo.onnx'), 128)
    args = ['test.py', DEMO, '--backend', 'onnxruntime', '--onnx', onnx_file]
    proc = run_tool(args + ['--work-dir', str(tmp_path / 'work')] + _data_options(tiny_data))
    assert_ok(proc)
    out = proc.stdout + proc.stderr
    assert 'coco/bbox_mAP:' in out and 'coco/bbox_mAP_50:' in out


@pytest.mark.slow
def test_onnxruntime_backend_refuses_a_missing_or_mismatched_file(tiny_data, tmp_path):
    args = ['test.py', DEMO, '--backend', 'onnxruntime'] + _data_options(tiny_data)
    proc = run_tool(args)
    assert proc.returncode == 2
    assert '--backend onnxruntime needs --onnx FILE' in proc.stderr
    onnx_file = _demo_onnx(str(tmp_path / 'demo96.onnx'), 96)
    proc = run_tool(args + ['--onnx', onnx_file])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'demo96.onnx was exported for 96x96 inputs' in proc.stderr
    assert 'resizes to 128x128' in proc.stderr


@pytest.mark.slow
def test_infer_onnxruntime_backend_writes_detections_with_the_exported_classes(tiny_data, tmp_path):
    import json

    onnx_file = _demo_onnx(str(tmp_path / 'demo.onnx'), 128)
    out_dir = str(tmp_path / 'infer')
    args = ['infer.py', f'{tiny_data}val', DEMO, '--backend', 'onnxruntime', '--onnx', onnx_file]
    proc = run_tool(args + ['--out-dir', out_dir, '--score-thr', '0.0'])
    assert_ok(proc)
    with open(f'{out_dir}/detections.json') as f:
        result = json.load(f)
    assert result['classes'] == list(Config.fromfile(f'{ROOT}/{DEMO}').classes)
    assert len(result['images']) == 8 and sum(len(r['labels']) for r in result['images']) > 0
