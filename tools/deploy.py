"""Export a detector through mmdeploy (ONNX Runtime, TensorRT, ...) and check it.

Examples::

    pip install -e '.[deploy]'        # mmdeploy 1.3.1 and the versions it needs beside it
    git clone -b v1.3.1 --depth 1 https://github.com/open-mmlab/mmdeploy ../mmdeploy
    python tools/deploy.py \\
        ../mmdeploy/configs/mmdet/detection/detection_onnxruntime_dynamic.py \\
        configs/ssd300_coco.py ssd300.pth demo.jpg --work-dir work_dirs/ssd300_ort

The first argument is one of mmdeploy's own deploy configs: the mmdeploy wheel
ships neither its configs nor its ``tools/deploy.py``, so they come from its
source tree (``configs/mmdet/detection/``). This command does what mmdeploy's
``tools/deploy.py`` does: ``torch2onnx`` (with ``dynamo=False`` on torch >= 2.9,
which mmdeploy 1.3.1 needs), ``to_backend`` for the deploy config's backend, the
SDK files (``--dump-info``, on by default), then a check: the export runs under
its backend on the image, and its detections are compared with PyTorch
``model.predict``'s as sets (labels equal, boxes within 1 px, scores within 1e-4).
OpenVINO is not offered (docs/deployment.md).
"""

import argparse
import sys
from typing import List, Optional

import ssd_plugin  # noqa: F401  (registers the plugin)
from ssd_plugin.apis.mmdeploy_export import mmdeploy_export
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import add_cfg_options_arg


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a detector with mmdeploy',
        epilog="DEPLOY_CONFIG: one of mmdeploy's, from its source tree "
        '(configs/mmdet/detection/ of git clone -b v1.3.1 '
        'https://github.com/open-mmlab/mmdeploy); the mmdeploy wheel does not ship them.',
    )
    parser.add_argument('deploy_config', help="mmdeploy's deploy config (see below)")
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('img', help='image to trace with and to check the export on')
    parser.add_argument('--work-dir', default='work_dirs/deploy', help='output folder')
    parser.add_argument('--device', default='cpu', help='e.g. cpu or cuda:0')
    parser.add_argument(
        '--no-dump-info', action='store_true', help='do not write the SDK files (deploy.json ...)'
    )
    parser.add_argument('--no-verify', action='store_true', help='skip the check of the export')
    add_cfg_options_arg(parser, 'model.test_cfg.score_thr=0.05')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Export; returns 0, 1 when the export's detections differ, 2 on missing input."""
    args = parse_args(argv)
    try:
        result = mmdeploy_export(
            args.deploy_config,
            args.config,
            args.checkpoint,
            args.img,
            args.work_dir,
            device=args.device,
            dump_info=not args.no_dump_info,
            verify=not args.no_verify,
            cfg_options=args.cfg_options,
        )
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'exported: {result["onnx_file"]}')
    for path in result['backend_files']:
        if path != result['onnx_file']:
            print(f'backend file: {path}')
    for path in result['sdk_files']:
        print(f'SDK info: {path}')
    if args.no_verify:
        return 0
    if result['problems']:
        print('the export differs from PyTorch:\n  ' + '\n  '.join(result['problems']))
        return 1
    print(f'the export matches PyTorch ({result["num_dets"]} detections on {args.img})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
