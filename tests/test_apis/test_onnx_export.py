"""ONNX export with a dynamic batch of the real SSD300 and SSDLite configs (random
init): onnxruntime at batch 1 and 2 gives PyTorch's detections, as sets."""

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ssd_plugin.apis.onnx_export import export_onnx, verify_onnx
from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS

ort = pytest.importorskip('onnxruntime')


@pytest.mark.slow
@pytest.mark.parametrize(
    'config', ['configs/ssdlite_mobilenetv2_coco.py', 'configs/ssd300_coco.py']
)
def test_real_config_exports_with_a_dynamic_batch(config, tmp_path):
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.score_thr = 0.01  # random weights: keep some detections
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    wrapper = SSDOnnxWrapper(model.eval(), (cfg.input_size, cfg.input_size))
    out = str(tmp_path / 'model.onnx')
    export_onnx(wrapper, out)
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    assert session.get_inputs()[0].shape[0] == 'batch'
    assert verify_onnx(wrapper, out, (1, 2)) > 0
