"""SSDOnnxWrapper: the ONNX export under onnxruntime gives the detections of
PyTorch ``model.predict`` (so the AP cannot drop after export)."""

import cv2
import numpy as np
import pytest
import torch
from log_test_utils import mmlogger_messages
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope
from model_test_utils import tiny_detector_cfg

from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS

ort = pytest.importorskip('onnxruntime')

SIZE = 128
# The tiny SSD with a [2, 3] middle level (6 boxes a location) and a high score_thr.
TINY = tiny_detector_cfg(
    ratios=([2], [2, 3], [2]),
    input_size=SIZE,
    train_cfg=False,
    test_cfg=dict(
        nms_pre=200, nms=dict(type='nms', iou_threshold=0.45), min_bbox_size=0, score_thr=0.3,
        max_per_img=50,
    ),
)  # fmt: skip


def sample_images():
    """Three 128 px BGR images: shapes on gradients, noise, a flat image."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    shapes = np.stack([x * 2, y * 2, x + y], 2).astype(np.uint8)
    cv2.rectangle(shapes, (20, 30), (70, 100), (0, 0, 255), -1)
    cv2.circle(shapes, (95, 40), 20, (255, 255, 0), -1)
    noise = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    flat = np.full((SIZE, SIZE, 3), 90, np.uint8)
    return [shapes, noise, flat]


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        detector = MODELS.build(TINY)
    detector.init_weights()
    # Spread the class logits so that some boxes pass score_thr with distinct scores.
    for tower in detector.bbox_head.cls_convs:
        tower[-1].weight.data *= 20
    return detector.eval()


def preprocess(model, img):
    tensor = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    meta = dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0))
    data = model.data_preprocessor(
        dict(inputs=[tensor], data_samples=[DetDataSample(metainfo=meta)]), False
    )
    return data['inputs'], data['data_samples']


@pytest.mark.slow
def test_onnxruntime_detections_equal_pytorch_predict(model, tmp_path):
    wrapper = SSDOnnxWrapper(model, (SIZE, SIZE))
    path = str(tmp_path / 'ssd.onnx')
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 3, SIZE, SIZE),),
        path,
        input_names=['input'],
        output_names=['dets', 'labels', 'batch_inds'],
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    total = 0
    for img in sample_images():
        inputs, samples = preprocess(model, img)
        with torch.no_grad():
            expected = model.predict(inputs, samples, rescale=False)[0].pred_instances
            eager_dets, eager_labels, _ = wrapper(inputs)
        dets, labels, _ = session.run(None, {'input': inputs.numpy()})
        for got_dets, got_labels in ((torch.from_numpy(dets), torch.from_numpy(labels)),
                                     (eager_dets, eager_labels)):  # fmt: skip
            assert got_dets.shape == (len(expected), 5)
            order = expected.scores.argsort(descending=True)
            assert torch.equal(got_labels, expected.labels[order])
            assert torch.allclose(got_dets[:, 4], expected.scores[order], atol=1e-4)
            assert torch.allclose(got_dets[:, :4], expected.bboxes[order], atol=1e-3)
        total += len(expected)
    assert total >= 10  # the comparison covers real detections


def test_post_processing_onnx_lacks_is_named_when_left_out(model):
    test_cfg = dict(
        TINY['test_cfg'],
        nms=dict(type='soft_nms', method='gaussian', sigma=0.5, iou_threshold=0.45),
        box_voting=dict(iou_thr=0.8),
    )
    with mmlogger_messages() as messages:
        wrapper = SSDOnnxWrapper(model, (SIZE, SIZE), test_cfg=test_cfg)
    assert wrapper.iou_thr == 0.45
    assert any(
        "exports plain NMS at iou_threshold 0.45: test_cfg's nms.type='soft_nms' and "
        "box_voting={'iou_thr': 0.8} is left out" in m
        for m in messages
    ), messages
    with mmlogger_messages() as messages:
        SSDOnnxWrapper(model, (SIZE, SIZE))
    assert not any('left out' in m for m in messages)
