"""Export an SSD detector, with its post-processing, to ONNX.

Examples::

    python tools/export_onnx.py configs/ssd300_coco.py ssd300.pth --out ssd300.onnx
    python tools/export_onnx.py CONFIG CKPT --out m.onnx --input-size 300 300 --opset 17

The graph takes preprocessed images, ``input`` ``(B, 3, H, W)`` float32 with
a dynamic batch ``B`` (``--static-batch``: 1) (colour order and normalisation
of the config's data preprocessor applied; they are written into the model's
metadata), and returns ``dets`` ``(K, 5)`` (``x1, y1, x2, y2, score`` in input
pixels), ``labels`` ``(K,)`` and ``batch_inds`` ``(K,)`` (the image of each),
computed as ``model.predict`` computes them (see
``ssd_plugin.deploy.SSDOnnxWrapper``). ``tools/test.py --backend onnxruntime
--onnx FILE`` evaluates the file on the config's test set.

The checkpoint must be intact (its CRC-32 checksums) and fit the config's
model exactly: missing, unexpected or reshaped weights end the run with their
names (exit status 2), instead of an export of a partly random model.
``--input-size`` must be positive and one the default boxes were made for
(every level tiling the input), as ``model.predict`` requires, and the
``--out`` folder must exist: all checked before the export (exit status 2).
A size other than the one the model runs at is warned about. By default the
export is checked under onnxruntime against PyTorch on a random input;
detections are compared as sets, so that near-tied scores, which may order
or suppress differently, do not fail a correct export.
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional

import ssd_plugin  # noqa: F401  (registers the plugin)
from ssd_plugin.apis.onnx_export import (
    build_detector,
    build_onnx_wrapper,
    default_input_size,
    export_onnx,
    verify_onnx,
)
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import add_cfg_options_arg, load_tool_config
from ssd_plugin.apis.weights import checkpoint_problems


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
        help="input height and width (default: the test pipeline's fixed Resize, else the "
        "anchor generator's input_size)",
    )
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset version (>= 11)')
    parser.add_argument(
        '--static-batch',
        action='store_true',
        help='fix the batch axis to 1 (default: dynamic, any batch size)',
    )
    parser.add_argument(
        '--no-verify', action='store_true', help='skip the onnxruntime vs PyTorch check'
    )
    add_cfg_options_arg(parser, 'model.test_cfg.max_per_img=50')
    return parser.parse_args(argv)


def _argument_problems(args: argparse.Namespace) -> List[str]:
    """What is wrong with ``--input-size`` and ``--out``, found before any work."""
    problems = []
    if args.input_size is not None and min(args.input_size) < 1:
        h, w = args.input_size
        problems.append(f'--input-size {h} {w}: height and width must be positive')
    out_dir = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(out_dir):
        problems.append(f'--out {args.out}: the folder {out_dir} does not exist')
    return problems


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        problems = _argument_problems(args)
        cfg = load_tool_config(args.config, cfg_options=args.cfg_options)  # checks the file
        problems += checkpoint_problems(args.checkpoint)
        if problems:
            raise RunCheckError('; '.join(problems))
        model = build_detector(cfg, args.checkpoint, args.config)
        default = default_input_size(cfg, model)
        input_size = args.input_size or default
        if input_size is None:
            raise RunCheckError(
                f'{args.config} has no fixed-size Resize in its test pipeline and its '
                'anchor generator no input_size: give --input-size H W'
            )
        wrapper = build_onnx_wrapper(model, input_size, args.config, default)
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    export_onnx(wrapper, args.out, args.opset, dynamic_batch=not args.static_batch)
    batch = '1' if args.static_batch else 'B'
    print(f'Exported {args.out} (input {batch}x3x{input_size[0]}x{input_size[1]})')
    if not args.no_verify:
        sizes = (1,) if args.static_batch else (1, 2)
        count = verify_onnx(wrapper, args.out, sizes)
        batches = ' and '.join(str(b) for b in sizes)
        print(f'onnxruntime matches PyTorch ({count} detections on random inputs, batch {batches})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
