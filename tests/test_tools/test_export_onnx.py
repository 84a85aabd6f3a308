"""tools/export_onnx.py on the tiny config: a runnable ONNX file with metadata,
checked against PyTorch as sets of detections; clear errors for missing inputs, a
checkpoint of another model and an input size the default boxes do not fit."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from tools_test_utils import ROOT, load_tool

from ssd_plugin.apis.onnx_export import (
    build_detector,
    build_onnx_wrapper,
    default_input_size,
    verify_onnx,
)
from ssd_plugin.deploy import SSDOnnxWrapper
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
    assert [i.shape for i in session.get_inputs()] == [['batch', 3, 128, 128]]
    assert [o.name for o in session.get_outputs()] == ['dets', 'labels', 'batch_inds']
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props['classes']) == list(cfg.metainfo['classes'])
    assert json.loads(props['bgr_to_rgb']) is True and len(json.loads(props['mean'])) == 3


def test_missing_checkpoint_is_a_clear_error(tiny_config, tmp_path, capsys):
    tool = load_tool('export_onnx')
    assert tool.main([tiny_config, str(tmp_path / 'none.pth'), '--out', 'x.onnx']) == 2
    assert 'none.pth' in capsys.readouterr().err


def _save_checkpoint(cfg_model, path, classes, tweak=None):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        model = MODELS.build(cfg_model)
    model.init_weights()
    if tweak is not None:
        tweak(model)
    meta = dict(dataset_meta=dict(classes=list(classes)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), str(path))
    return model


def test_checkpoint_of_another_model_is_refused_naming_the_keys(tiny_config, tmp_path, capsys):
    """A checkpoint of another model used to export a partly random model with exit 0
    (``load_checkpoint(..., logger='silent')``); now the keys at fault are named."""
    cfg = Config.fromfile(tiny_config)
    other = cfg.model.copy()
    other.bbox_head = dict(other.bbox_head, num_classes=3)  # other class convs
    ckpt = tmp_path / 'other.pth'
    model = _save_checkpoint(other, ckpt, ['a', 'b', 'c'])
    state = model.state_dict()
    state['extra.weight'] = torch.zeros(2)  # a key the model has not
    del state['backbone.conv1.conv.weight']  # one it lacks
    torch.save(dict(state_dict=state), str(ckpt))
    out = tmp_path / 'x.onnx'
    tool = load_tool('export_onnx')
    assert tool.main([tiny_config, str(ckpt), '--out', str(out), '--no-verify']) == 2
    err = capsys.readouterr().err
    assert 'does not fit the model of config' in err and tiny_config in err
    assert '1 missing in the checkpoint: backbone.conv1.conv.weight' in err
    assert '1 unexpected: extra.weight' in err
    assert 'of another shape: bbox_head.cls_convs.0' in err and '(model: (' in err
    assert not out.exists()


def test_checkpoint_saved_from_ddp_loads(tiny_config, tmp_path):
    cfg = Config.fromfile(tiny_config)
    ckpt = tmp_path / 'ddp.pth'
    model = _save_checkpoint(cfg.model, ckpt, cfg.metainfo['classes'])
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state), str(ckpt))
    tool = load_tool('export_onnx')
    out = tmp_path / 'ddp.onnx'
    assert tool.main([tiny_config, str(ckpt), '--out', str(out), '--no-verify']) == 0


def test_input_size_the_default_boxes_were_not_made_for_is_refused(tmp_path, capsys):
    """SSDLite's last levels (strides 107, 160, 320) tile 320 px and 300 px, not 256:
    ``model.predict`` refuses such an input, and so does the export (it used to write
    default boxes centred off their cells, some outside the image)."""
    config = osp.join(ROOT, 'configs', 'ssdlite_mobilenetv2_coco.py')
    cfg = Config.fromfile(config)
    ckpt = tmp_path / 'ssdlite.pth'
    _save_checkpoint(cfg.model, ckpt, ['c'] * 80)
    tool = load_tool('export_onnx')
    out = tmp_path / 'ssdlite.onnx'
    args = [config, str(ckpt), '--out', str(out), '--no-verify', '--input-size']
    assert tool.main(args + ['256', '256']) == 2
    err = capsys.readouterr().err
    assert '--input-size 256 256 does not fit the default boxes' in err
    assert 'Level 3: feature map 2x2 but stride 107x107 on a 256x256 input needs 3x3' in err
    assert not out.exists()


def test_verify_accepts_near_tied_scores_and_catches_a_wrong_export(tiny_config, tmp_path):
    """A head with equal class logits everywhere gives every (box, class) the same
    score: top-k and NMS may break the ties differently in onnxruntime and PyTorch,
    in order and in which boxes survive, and the export is still right. A model that
    changed after the export is caught."""
    cfg = Config.fromfile(tiny_config)

    def tie(model):
        for conv in model.bbox_head.cls_convs:
            conv[-1].weight.data.zero_()
            conv[-1].bias.data.zero_()

    ckpt = tmp_path / 'tied.pth'
    _save_checkpoint(cfg.model, ckpt, cfg.metainfo['classes'], tweak=tie)
    tool = load_tool('export_onnx')
    out = tmp_path / 'tied.onnx'
    options = ['--input-size', '128', '128', '--cfg-options', 'model.test_cfg.score_thr=0.0']
    options.append('model.test_cfg.nms_pre=50')
    assert tool.main([tiny_config, str(ckpt), '--out', str(out)] + options) == 0

    # The ties are real: the two runtimes disagree on order or membership.
    cfg.merge_from_dict({'model.test_cfg.score_thr': 0.0, 'model.test_cfg.nms_pre': 50})
    model = build_detector(cfg, str(ckpt))
    wrapper = SSDOnnxWrapper(model, (128, 128))
    img = np.random.default_rng(0).standard_normal((1, 3, 128, 128)).astype(np.float32)
    dets, labels, _ = ort.InferenceSession(str(out)).run(None, {'input': img})
    with torch.no_grad():
        ref_dets, ref_labels, _ = wrapper(torch.from_numpy(img))
    assert dets.shape != tuple(ref_dets.shape) or not (
        np.array_equal(labels, ref_labels.numpy()) and np.allclose(dets, ref_dets.numpy())
    )
    verify_onnx(wrapper, str(out))  # as sets: no error

    with torch.no_grad():  # the model moved on after the export: the boxes differ
        for conv in model.bbox_head.reg_convs:
            conv[-1].bias.data += 0.5
    with pytest.raises(RuntimeError, match='none of the reference candidates'):
        verify_onnx(wrapper, str(out))


def test_bad_input_size_and_out_folder_are_refused_before_any_work(tiny_config, tmp_path, capsys):
    """0x0 and 127x131 used to fail inside the backbone, 2x2 exported without a word, and a
    missing --out folder failed after the export."""
    cfg = Config.fromfile(tiny_config)
    ckpt = tmp_path / 'tiny.pth'
    _save_checkpoint(cfg.model, ckpt, cfg.metainfo['classes'])
    tool = load_tool('export_onnx')
    out = tmp_path / 'x.onnx'
    base = [tiny_config, str(ckpt), '--no-verify', '--input-size']
    assert tool.main(base + ['0', '0', '--out', str(out)]) == 2
    assert '--input-size 0 0: height and width must be positive' in capsys.readouterr().err
    demo = osp.join(ROOT, 'configs', 'demo', 'ssd_cspdarknet_synthetic_cpu.py')
    demo_ckpt = tmp_path / 'demo.pth'
    _save_checkpoint(Config.fromfile(demo).model, demo_ckpt, ['c'] * 6)
    capsys.readouterr()  # init_weights' log, through a logger an earlier test's capture may hold
    args = [demo, str(demo_ckpt), '--no-verify', '--out', str(out), '--input-size', '127', '131']
    assert tool.main(args) == 2  # CSPDarknet's concatenations need even sizes
    err = capsys.readouterr().err
    assert err.startswith('error: --input-size 127 131: the model of') and 'cannot run on it' in err
    missing = tmp_path / 'nowhere' / 'x.onnx'
    assert tool.main(base + ['128', '128', '--out', str(missing)]) == 2
    assert f'the folder {tmp_path / "nowhere"} does not exist' in capsys.readouterr().err
    assert not out.exists()
    model = build_detector(Config.fromfile(tiny_config), str(ckpt))
    build_onnx_wrapper(model, (64, 64), 'tiny', default_input_size(cfg, model))
    assert 'warning: --input-size 64 64 differs from the 128x128' in capsys.readouterr().err
