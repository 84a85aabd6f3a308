"""Export through mmdeploy (the optional ``[deploy]`` extra): ``tools/deploy.py``.

mmdeploy exports the plugin's detectors with its own rewriters: ``SSDHead``
predicts with mmdet's ``BaseDenseHead.predict_by_feat``, which mmdeploy rewrites
for export, and the configs' test pipelines use the step names its SDK export
expects (``LoadImageFromFile`` first). This module adds what mmdeploy 1.3.1's
wheel lacks: a command (the wheel ships no ``tools/``), the legacy exporter on
torch >= 2.9 (mmdeploy calls ``torch.onnx.export`` without ``dynamo=False``), and
a check of the exported model's detections against PyTorch's.

The deploy configs (e.g. ``detection_onnxruntime_dynamic.py``) are mmdeploy's,
from its source tree (``configs/mmdet/detection/`` of ``git clone -b v1.3.1
https://github.com/open-mmlab/mmdeploy``): the wheel does not ship them either.
"""

import contextlib
import copy
import functools
import logging
import os.path as osp
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.logging import print_log
from packaging.version import Version

from ssd_plugin.deploy import left_out_of_plain_nms

from .onnx_export import compare_detections
from .run_check_error import RunCheckError

__all__ = ['mmdeploy_export']


@contextlib.contextmanager
def _legacy_onnx_export() -> Iterator[None]:
    """``torch.onnx.export`` with ``dynamo=False`` inside the block, on torch >= 2.9.

    torch 2.9 made the dynamo exporter the default; mmdeploy's rewriters patch
    the TorchScript tracer and need the legacy one. mmdeploy looks the function
    up at each call, so the default is changed for this block only.
    """
    if Version(torch.__version__.split('+')[0]) < Version('2.9'):
        yield
        return
    original = torch.onnx.export
    torch.onnx.export = functools.partial(original, dynamo=False)
    try:
        yield
    finally:
        torch.onnx.export = original


def _detections(sample) -> tuple:
    pred = sample.pred_instances
    dets = torch.cat([pred.bboxes, pred.scores[:, None]], 1).cpu().numpy()
    return dets, pred.labels.cpu().numpy()


def mmdeploy_export(
    deploy_cfg: str,
    model_cfg: str,
    checkpoint: str,
    img: str,
    work_dir: str,
    device: str = 'cpu',
    dump_info: bool = True,
    verify: bool = True,
    cfg_options: Optional[Dict] = None,
) -> Dict:
    """Export ``model_cfg`` + ``checkpoint`` with mmdeploy's ``torch2onnx``.

    Args:
        deploy_cfg: An mmdeploy deploy config, e.g. mmdeploy's
            ``configs/mmdet/detection/detection_onnxruntime_dynamic.py``.
        model_cfg: The model's config file.
        checkpoint: Its checkpoint.
        img: An image to trace and verify with.
        work_dir: Where ``end2end.onnx`` (and the SDK files) go.
        device: E.g. ``'cpu'`` or ``'cuda:0'``.
        dump_info: Also write the SDK information (``deploy.json``,
            ``pipeline.json``, ``detail.json``), as ``--dump-info`` does.
        verify: Run the export under its backend on ``img`` and compare its
            detections with PyTorch ``model.predict``'s, as sets.
        cfg_options: Settings merged into the model config first.

    Returns:
        ``onnx_file``; ``backend_files`` (what the backend runs: the ONNX file
        for ONNX Runtime, a TensorRT engine for TensorRT); ``sdk_files`` (empty
        without ``dump_info``); with ``verify``, ``num_dets`` (PyTorch's detections on ``img``) and
        ``problems`` (unexplained differences of the export's detections from
        PyTorch's; empty when they are equal).

    Raises:
        RunCheckError: mmdeploy is missing, or a file is.
    """
    try:
        from mmdeploy.apis import torch2onnx
    except ImportError as err:
        raise RunCheckError(
            f"tools/deploy.py needs mmdeploy ({err}): pip install -e '.[deploy]' (mmdeploy "
            '1.3.1 with the onnx, onnxruntime and protobuf versions it installs beside; see '
            'README, Deployment)'
        ) from None
    from mmdeploy.apis.utils import to_backend
    from mmdeploy.backend.sdk.export_info import export2SDK
    from mmdeploy.utils import get_backend, load_config

    for what, path in (
        ('deploy config', deploy_cfg),
        ('model config', model_cfg),
        ('checkpoint', checkpoint),
        ('image', img),
    ):
        if not osp.isfile(path):
            raise RunCheckError(f'{what} not found: {path} (resolved: {osp.abspath(path)})')
    deploy, model = load_config(deploy_cfg, model_cfg)
    if cfg_options:
        model.merge_from_dict(cfg_options)
    _plain_nms(model)
    # mmdeploy edits the configs it is given (e.g. export2SDK's Resize), so each
    # step gets its own copy.
    with _legacy_onnx_export():
        torch2onnx(img, work_dir, 'end2end.onnx', deploy, copy.deepcopy(model), checkpoint, device)
    onnx_file = osp.join(work_dir, 'end2end.onnx')
    # The deploy config's backend turns the ONNX file into its own (TensorRT builds
    # an engine on `device`, as mmdeploy's tools/deploy.py passes it); ONNX Runtime
    # runs the ONNX file as it is.
    backend_files = list(
        to_backend(get_backend(deploy).value, [onnx_file], work_dir, deploy, device=device)
    )
    result = dict(onnx_file=onnx_file, backend_files=backend_files, sdk_files=[])
    if dump_info:
        export2SDK(deploy, copy.deepcopy(model), work_dir, pth=checkpoint, device=device)
        result['sdk_files'] = [
            osp.join(work_dir, name) for name in ('deploy.json', 'pipeline.json', 'detail.json')
        ]
    if verify:
        result.update(_verify(deploy, copy.deepcopy(model), checkpoint, img, backend_files, device))
    return result


def _plain_nms(model) -> None:
    """mmdeploy's rewriter of ``predict_by_feat`` runs plain NMS (its deploy config's):
    say what of ``test_cfg`` it leaves out (Soft-NMS, box voting), and compare the export
    with PyTorch without it."""
    test_cfg = model.model.get('test_cfg') or {}
    left_out = left_out_of_plain_nms(test_cfg)
    if test_cfg.get('nms') and test_cfg.nms.get('type', 'nms') != 'nms':
        test_cfg.nms = dict(type='nms', iou_threshold=test_cfg.nms.iou_threshold)
    test_cfg.pop('box_voting', None)
    if left_out:
        print_log(
            f"mmdeploy exports plain NMS: test_cfg's {left_out} is left out of "
            'the export and of the PyTorch model it is compared with',
            logger='current',
            level=logging.WARNING,
        )


def _verify(
    deploy, model, checkpoint: str, img: str, backend_files: List[str], device: str
) -> Dict:
    """PyTorch's and the backend's detections on ``img``, compared as sets."""
    from mmdeploy.apis import build_task_processor
    from mmdeploy.utils import get_input_shape

    processor = build_task_processor(model, deploy, device)
    torch_model = processor.build_pytorch_model(checkpoint)
    backend_model = processor.build_backend_model(
        backend_files, data_preprocessor_updater=processor.update_data_preprocessor
    )
    inputs, _ = processor.create_input(img, get_input_shape(deploy))
    with torch.no_grad():
        ref = torch_model.test_step(inputs)[0]
        out = backend_model.test_step(inputs)[0]
    ref_dets, ref_labels = _detections(ref)
    dets, labels = _detections(out)
    test_cfg = model.model.test_cfg
    problems: List[str] = compare_detections(
        dets,
        labels,
        ref_dets,
        ref_labels,
        iou_thr=float(test_cfg.nms.iou_threshold),
        max_per_img=int(test_cfg.get('max_per_img', len(ref_dets))),
        cutoffs=(float(test_cfg.get('score_thr', 0.0)),),
        box_atol=1.0,
    )
    if len(dets) != len(ref_dets):
        problems.append(f"{len(dets)} detections against PyTorch's {len(ref_dets)}")
    return dict(num_dets=int(len(ref_dets)), problems=problems)
