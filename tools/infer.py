"""Detect objects in images and save them drawn, plus a JSON of detections.

Examples::

    python tools/infer.py demo.jpg CONFIG CHECKPOINT
    python tools/infer.py data/synthetic/val CONFIG CHECKPOINT --out-dir outputs/infer

Writes ``OUT_DIR/vis/<image name>`` (boxes with a score of at least
``--score-thr`` drawn) and ``OUT_DIR/detections.json``: one entry per image
with ``bboxes`` (x1, y1, x2, y2 in input-image pixels), ``scores``,
``labels`` and ``class_names``, sorted by score. Wraps mmdet's
``DetInferencer`` in the config's default scope (``ssd_plugin``).
"""

import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.engine import patch_mmdet_ssd_head
from ssd_plugin.registry import SCOPE
from ssd_plugin.utils.run_checks import RunCheckError, check_config_file, check_run

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Detect objects in images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs/infer', help='output directory')
    parser.add_argument('--score-thr', type=float, default=0.3, help='least score kept')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config'
    )
    return parser.parse_args(argv)


def list_images(inputs: str) -> List[str]:
    """The image files named by ``inputs`` (a file or a folder), sorted.

    Raises:
        RunCheckError: when there are none.
    """
    if osp.isdir(inputs):
        images = sorted(
            osp.join(inputs, name)
            for name in os.listdir(inputs)
            if name.lower().endswith(IMG_EXTENSIONS)
        )
        if not images:
            raise RunCheckError(f'No images ({", ".join(IMG_EXTENSIONS)}) in folder {inputs}')
        return images
    if not osp.isfile(inputs):
        raise RunCheckError(f'Input not found: {inputs} (resolved: {osp.abspath(inputs)})')
    return [inputs]


def load_config(args: argparse.Namespace) -> Config:
    """The config, ready for ``DetInferencer``.

    Raises:
        RunCheckError: when the config or checkpoint is missing.
    """
    check_config_file(args.config)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('default_scope') is None:
        cfg.default_scope = SCOPE
    check_run(cfg, args.config, 'infer', checkpoints=[('checkpoint', args.checkpoint)])
    if cfg.get('visualizer') is None:
        cfg.visualizer = dict(type='mmdet.DetLocalVisualizer', name='visualizer')
    # DetInferencer writes the drawn images itself; backends would want a save_dir.
    cfg.visualizer['vis_backends'] = None
    # DetInferencer looks for the loader under its plain name.
    for transform in cfg.test_dataloader.dataset.pipeline:
        if transform['type'] == 'mmdet.LoadImageFromFile':
            transform['type'] = 'LoadImageFromFile'
    return cfg


def detections(prediction: Dict, classes: List[str], score_thr: float) -> Dict:
    """The kept detections of one image, highest score first."""
    keep = [i for i, s in enumerate(prediction['scores']) if s >= score_thr]
    keep.sort(key=lambda i: -prediction['scores'][i])
    labels = [int(prediction['labels'][i]) for i in keep]
    return dict(
        bboxes=[[round(float(v), 2) for v in prediction['bboxes'][i]] for i in keep],
        scores=[round(float(prediction['scores'][i]), 4) for i in keep],
        labels=labels,
        class_names=[classes[label] if label < len(classes) else str(label) for label in labels],
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Run the inference; returns the exit status (2 when an input is missing)."""
    args = parse_args(argv)
    try:
        images = list_images(args.inputs)
        cfg = load_config(args)
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(
        model=cfg,
        weights=args.checkpoint,
        device=args.device,
        scope=cfg.default_scope,
        show_progress=False,
    )
    note = patch_mmdet_ssd_head(inferencer.model)  # a baseline config's mmdet SSDHead
    if note:
        print(note)
    classes = list(inferencer.model.dataset_meta.get('classes', ()))
    results = inferencer(
        images,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        pred_score_thr=args.score_thr,
        no_save_pred=True,
    )
    records = []
    for path, prediction in zip(images, results['predictions']):
        record = dict(image=path, vis=osp.join(args.out_dir, 'vis', osp.basename(path)))
        record.update(detections(prediction, classes, args.score_thr))
        records.append(record)
    os.makedirs(args.out_dir, exist_ok=True)
    json_path = osp.join(args.out_dir, 'detections.json')
    with open(json_path, 'w') as f:
        json.dump(dict(score_thr=args.score_thr, classes=classes, images=records), f, indent=1)
    total = sum(len(r['labels']) for r in records)
    print(
        f'{total} detections (score >= {args.score_thr}) in {len(records)} images; '
        f'drawn images in {osp.join(args.out_dir, "vis")}, detections in {json_path}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
