"""Detect objects in images and save them drawn, plus a JSON of detections.

Examples::

    python tools/infer.py demo.jpg CONFIG CHECKPOINT
    python tools/infer.py data/synthetic/val CONFIG CHECKPOINT --out-dir outputs/infer

Writes ``OUT_DIR/vis/<image name>`` (boxes with a score of at least
``--score-thr`` drawn) and ``OUT_DIR/detections.json``: one entry per image
with ``bboxes`` (x1, y1, x2, y2 in input-image pixels), ``scores``,
``labels`` and ``class_names``, sorted by score. Wraps mmdet's
``DetInferencer`` in the config's default scope (``ssd_plugin``); images
are read by the config's own test loader (``SafeLoadImageFromFile`` in the
plugin's configs: a corrupt or truncated file is named, not drawn grey).
"""

import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import numpy as np
from mmdet.apis import DetInferencer
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dataset import Compose

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.datasets.transforms.safe_load_image_from_file import ImageLoadError
from ssd_plugin.engine import patch_mmdet_ssd_head
from ssd_plugin.registry import SCOPE, TRANSFORMS
from ssd_plugin.utils.run_checks import RunCheckError, check_config_file, check_run

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
# The test-pipeline steps that read the image file (any scope prefix).
IMAGE_LOADERS = ('LoadImageFromFile', 'SafeLoadImageFromFile')


class InferenceImageLoader:
    """First step of the inference pipeline: an image path or an array.

    A path (or ``dict(img_path=...)``) goes through the config's own loader,
    unchanged: with ``SafeLoadImageFromFile`` a missing, empty, truncated or
    undecodable file raises an error that names it. An ``(H, W, 3)`` array
    goes through mmdet's ``LoadImageFromNDArray``. This replaces mmdet's
    ``InferencerLoader``, which ``DetInferencer`` puts in place of a plain
    ``LoadImageFromFile`` only.

    Args:
        file_loader: The config's loader transform.
        array_loader: A transform taking ``dict(img=array)``.
    """

    def __init__(self, file_loader, array_loader) -> None:
        self.file_loader = file_loader
        self.array_loader = array_loader

    def __call__(self, inputs) -> dict:
        if isinstance(inputs, str):
            inputs = dict(img_path=inputs)
        elif isinstance(inputs, np.ndarray):
            inputs = dict(img=inputs)
        elif not isinstance(inputs, dict):
            raise TypeError(f'cannot load an image from a {type(inputs).__name__}')
        if 'img' in inputs:
            return self.array_loader(inputs)
        results = self.file_loader(inputs)
        if results is None:  # a loader told to skip bad files; inference cannot skip
            raise OSError(f'{inputs["img_path"]}: the image could not be loaded (see above)')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(file_loader={self.file_loader!r})'


class SafeDetInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` that keeps the config's image loader.

    ``DetInferencer`` looks for a step named ``LoadImageFromFile`` and fails
    with ``ValueError: LoadImageFromFile is not found in the test pipeline``
    for the plugin's ``SafeLoadImageFromFile``; this one finds either (with
    or without a scope prefix) and wraps it in :class:`InferenceImageLoader`.
    """

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        steps = [dict(step) for step in cfg.test_dataloader.dataset.pipeline]
        if 'meta_keys' in steps[-1]:  # no img_id at inference (as DetInferencer)
            steps[-1]['meta_keys'] = tuple(k for k in steps[-1]['meta_keys'] if k != 'img_id')
        names = [str(step['type']).rsplit('.', 1)[-1] for step in steps]
        found = [i for i, name in enumerate(names) if name in IMAGE_LOADERS]
        if not found:
            raise ValueError(
                f'test_dataloader.dataset.pipeline has no image loader (one of {IMAGE_LOADERS}); '
                f'its steps: {names}'
            )
        file_loader = TRANSFORMS.build(steps[found[0]])
        array_loader = TRANSFORMS.build(
            dict(type='mmdet.LoadImageFromNDArray', to_float32=file_loader.to_float32)
        )
        steps[found[0]] = InferenceImageLoader(file_loader, array_loader)
        return Compose(steps)


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
    """Run the inference; returns the exit status (2 when an input is missing or bad)."""
    args = parse_args(argv)
    try:
        images = list_images(args.inputs)
        cfg = load_config(args)
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    inferencer = SafeDetInferencer(
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
    try:
        results = inferencer(
            images,
            batch_size=args.batch_size,
            out_dir=args.out_dir,
            pred_score_thr=args.score_thr,
            no_save_pred=True,
        )
    except ImageLoadError as err:  # SafeLoadImageFromFile: names the file and why
        print(f'error: {err}', file=sys.stderr)
        return 2
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
