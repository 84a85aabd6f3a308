"""Detect objects in images and save them drawn, plus a JSON of detections.

Examples::

    python tools/infer.py demo.jpg CONFIG CHECKPOINT
    python tools/infer.py data/synthetic/val CONFIG CHECKPOINT --out-dir outputs/infer

Writes ``OUT_DIR/vis/<image name>`` (boxes with a score of at least
``--score-thr`` drawn) and ``OUT_DIR/detections.json``: one entry per image
with ``bboxes`` (x1, y1, x2, y2 in input-image pixels), ``scores``,
``labels`` and ``class_names``, sorted by score. Wraps mmdet's
``DetInferencer`` in the config's default scope, through
``ssd_plugin.apis.inference``. A missing, empty, truncated or undecodable image
is named and skipped (``skipped`` in the JSON); the others are detected.
"""

import argparse
import sys
from typing import List, Optional

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.apis.inference import infer_images
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import add_cfg_options_arg, add_model_file_args


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Detect objects in images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    add_model_file_args(parser)
    parser.add_argument('--out-dir', default='outputs/infer', help='output directory')
    parser.add_argument('--score-thr', type=float, default=0.3, help='least score kept')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    add_cfg_options_arg(parser, 'model.test_cfg.score_thr=0.3')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the inference; returns the exit status (2 when an input is missing or bad)."""
    args = parse_args(argv)
    try:
        infer_images(
            args.inputs,
            args.config,
            args.checkpoint,
            out_dir=args.out_dir,
            score_thr=args.score_thr,
            device=args.device,
            batch_size=args.batch_size,
            cfg_options=args.cfg_options,
            backend=args.backend,
            onnx_file=args.onnx,
        )
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
