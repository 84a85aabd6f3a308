"""Export an SSD detector, with its post-processing, to ONNX.

Examples::

    python tools/export_onnx.py configs/ssd300_coco.py ssd300.pth --out ssd300.onnx
    python tools/export_onnx.py CONFIG CKPT --out m.onnx --input-size 300 300 --opset 17

The graph takes the preprocessed image, ``input`` ``(1, 3, H, W)`` float32
(colour order and normalisation of the config's data preprocessor applied;
they are written into the model's metadata), and returns ``dets`` ``(K, 5)``
(``x1, y1, x2, y2, score`` in input pixels) and ``labels`` ``(K,)``, computed
as ``model.predict`` computes them (see ``ssd_plugin.deploy.SSDOnnxWrapper``).
By default the export is checked under onnxruntime against PyTorch on a
random input.
"""

import argparse
import json
import sys
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint

import ssd_plugin  # noqa: F401  (registers the plugin)
from ssd_plugin.deploy import SSDOnnxWrapper
from ssd_plugin.registry import MODELS, SCOPE
from ssd_plugin.utils.run_checks import RunCheckError, check_config_file, checkpoint_problems


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export an SSD detector to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="input height and width (default: the anchor generator's input_size)",
    )
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset version (>= 11)')
    parser.add_argument(
        '--no-verify', action='store_true', help='skip the onnxruntime vs PyTorch check'
    )
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings')
    return parser.parse_args(argv)


def build_detector(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The detector of ``cfg`` with the weights of ``checkpoint``, in eval mode, on CPU."""
    cfg.model.backbone.init_cfg = None  # the checkpoint has the weights
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        model = MODELS.build(cfg.model)
    ckpt = load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.dataset_meta = (ckpt.get('meta') or {}).get('dataset_meta') or {}
    return model.eval()


def export(model: torch.nn.Module, out: str, input_size, opset: int) -> SSDOnnxWrapper:
    """Write the ONNX file with metadata (preprocessing, classes)."""
    import onnx

    wrapper = SSDOnnxWrapper(model, input_size)
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 3, *wrapper.input_size),),
        out,
        input_names=['input'],
        output_names=['dets', 'labels'],
        opset_version=opset,
        dynamo=False,
    )
    preprocessor = model.data_preprocessor
    meta = dict(
        input_size=list(wrapper.input_size),
        mean=preprocessor.mean.flatten().tolist() if preprocessor._enable_normalize else None,
        std=preprocessor.std.flatten().tolist() if preprocessor._enable_normalize else None,
        bgr_to_rgb=bool(preprocessor._channel_conversion),
        classes=list(model.dataset_meta.get('classes', [])),
    )
    onnx_model = onnx.load(out)
    for key, value in meta.items():
        onnx_model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(onnx_model, out)
    return wrapper


def verify(wrapper: SSDOnnxWrapper, out: str) -> int:
    """Compare onnxruntime and PyTorch on a random input; the number of detections."""
    import onnxruntime

    rng = np.random.default_rng(0)
    img = rng.standard_normal((1, 3, *wrapper.input_size)).astype(np.float32)
    session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
    dets, labels = session.run(None, {'input': img})
    with torch.no_grad():
        ref_dets, ref_labels = wrapper(torch.from_numpy(img))
    if dets.shape != tuple(ref_dets.shape) or not np.array_equal(labels, ref_labels.numpy()):
        raise RuntimeError(
            f'onnxruntime gives {len(dets)} detections, PyTorch {len(ref_dets)} (or other labels)'
        )
    if not np.allclose(dets, ref_dets.numpy(), atol=1e-3):
        diff = float(np.abs(dets - ref_dets.numpy()).max())
        raise RuntimeError(f'onnxruntime and PyTorch boxes/scores differ by up to {diff}')
    return len(dets)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        check_config_file(args.config)
        problems = checkpoint_problems(args.checkpoint)
        if problems:
            raise RunCheckError('; '.join(problems))
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_detector(cfg, args.checkpoint)
    input_size = args.input_size
    if input_size is None:
        size = getattr(model.bbox_head.prior_generator, 'input_size', None)
        if size is None:
            print('error: give --input-size H W', file=sys.stderr)
            return 2
        input_size = (size, size) if isinstance(size, int) else tuple(size)
    wrapper = export(model, args.out, input_size, args.opset)
    print(f'Exported {args.out} (input 1x3x{input_size[0]}x{input_size[1]})')
    if not args.no_verify:
        count = verify(wrapper, args.out)
        print(f'onnxruntime matches PyTorch ({count} detections on a random input)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
