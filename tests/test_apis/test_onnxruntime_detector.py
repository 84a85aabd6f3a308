"""OnnxRuntimeDetector and ``tools/test.py --backend onnxruntime``: the exported
demo SSD evaluated by the config's own test loop; its predictions equal
``model.predict(rescale=True)``; clear errors for a missing or mismatched file."""

import copy
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ssd_plugin.apis.onnx_export import export_onnx
from ssd_plugin.apis.onnxruntime_detector import OnnxRuntimeDetector
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import set_model_files
from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS

pytest.importorskip('onnxruntime')
pytestmark = pytest.mark.slow  # exports the demo model twice (about 10 s)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs/demo/ssd_cspdarknet_synthetic_cpu.py')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """The demo model (random init, class predictors redrawn for distinct scores) and its
    export at 128 and 96."""
    cfg = Config.fromfile(DEMO)
    cfg.model.test_cfg.score_thr = 0.05
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    for conv in model.bbox_head.cls_convs:  # some confident, distinct scores, whatever the init
        torch.nn.init.normal_(conv[-1].weight, std=0.03)
    model.eval()
    model.dataset_meta = dict(classes=tuple(cfg.classes))
    tmp = tmp_path_factory.mktemp('ort')
    files = {}
    for size in (128, 96):
        files[size] = str(tmp / f'demo{size}.onnx')
        export_onnx(SSDOnnxWrapper(model, (size, size)), files[size])
    return model, files


def test_predictions_equal_pytorch_predict_rescaled_at_batch_2(demo):
    model, files = demo
    detector = OnnxRuntimeDetector(files[128], data_preprocessor=model.data_preprocessor)
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 128, 128)
    metas = [
        dict(img_shape=(128, 128), ori_shape=(256, 192), scale_factor=(0.5, 2 / 3)),
        dict(img_shape=(128, 128), ori_shape=(128, 128), scale_factor=(1.0, 1.0)),
    ]
    # The export runs the NMS alone (SSDOnnxWrapper logs that box_voting is left out).
    plain = copy.deepcopy(model)
    assert plain.bbox_head.test_cfg.pop('box_voting') is not None
    with torch.no_grad():
        ref = plain.predict(inputs, [DetDataSample(metainfo=m) for m in metas], rescale=True)
    got = detector(inputs, [DetDataSample(metainfo=m) for m in metas])
    assert detector.dataset_meta['classes'] == model.dataset_meta['classes']
    total = 0
    for g, r in zip(got, ref):
        g, r = g.pred_instances, r.pred_instances
        go, ro = g.scores.argsort(descending=True), r.scores.argsort(descending=True)
        assert torch.equal(g.labels[go], r.labels[ro])
        assert torch.allclose(g.scores[go], r.scores[ro], atol=1e-4)
        assert torch.allclose(g.bboxes[go], r.bboxes[ro], atol=1.0)  # 1 px
        total += len(r)
    assert total >= 5


def test_set_model_files_refuses_bad_input(demo):
    _, files = demo
    cfg = Config.fromfile(DEMO)
    with pytest.raises(RunCheckError, match='needs --onnx FILE'):
        set_model_files(cfg, 'onnxruntime', None, None)
    with pytest.raises(RunCheckError, match='ONNX file not found: nowhere.onnx'):
        set_model_files(cfg, 'onnxruntime', None, 'nowhere.onnx')
    with pytest.raises(RunCheckError, match=r'exported for 96x96 .* resizes to 128x128'):
        set_model_files(cfg, 'onnxruntime', None, files[96])
    with pytest.raises(RunCheckError, match='--onnx needs --backend onnxruntime'):
        set_model_files(cfg, 'pytorch', 'x.pth', files[128])
    detector = OnnxRuntimeDetector(files[96], data_preprocessor=cfg.model.data_preprocessor)
    with pytest.raises(ValueError, match='demo96.onnx was exported for 96x96 .* gives 128x128'):
        detector(torch.zeros(1, 3, 128, 128))
