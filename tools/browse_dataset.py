"""Write a PNG grid of augmented training samples, boxes and class names drawn.

Builds ``train_dataloader.dataset`` of any config (in the config's
``default_scope``, ``mmdet`` if it sets none), runs its pipeline on the first
``--num`` samples and tiles the packed images (as the model would receive them,
before the data preprocessor) into one PNG. Ignored instances are drawn in grey.

Example::

    python tools/browse_dataset.py configs/ssd300_coco.py --num 16 --output-dir work_dirs/browse
"""

import argparse
import math
import random
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.registry import DATASETS, init_default_scope

from ssd_plugin.apis.check_run import check_run, json_errors_named
from ssd_plugin.apis.run_check_error import EXIT_MISSING, RunCheckError
from ssd_plugin.apis.tool_config import add_cfg_options_arg, load_tool_config

GAP = 4  # pixels between cells


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', default='work_dirs/browse_dataset', help='PNG folder')
    parser.add_argument('--num', type=int, default=16, help='number of samples to show')
    parser.add_argument('--seed', type=int, default=0, help='seed of the augmentations')
    add_cfg_options_arg(parser, 'train_dataloader.dataset.pipeline.4.scale="(512,512)"')
    return parser.parse_args(argv)


def class_colour(label: int) -> Tuple[int, int, int]:
    """A distinct, deterministic BGR colour per class index."""
    hue = (label * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(c) for c in bgr)


def to_bgr_uint8(inputs: torch.Tensor) -> np.ndarray:
    """Packed (C, H, W) image tensor -> (H, W, 3) uint8, clipped to [0, 255]."""
    img = inputs.detach().cpu().numpy().transpose(1, 2, 0)
    if img.dtype != np.uint8:
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def draw_sample(
    img: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    colour: Optional[Tuple[int, int, int]] = None,
) -> None:
    """Draw boxes (N, 4) x1y1x2y2 with their class names on ``img`` in place."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    for box, label in zip(boxes, labels):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        c = colour or class_colour(int(label))
        cv2.rectangle(img, (x1, y1), (x2, y2), c, 1)
        name = classes[int(label)] if 0 <= int(label) < len(classes) else str(int(label))
        (tw, th), base = cv2.getTextSize(name, font, scale, 1)
        ty = max(y1, th + base)
        cv2.rectangle(img, (x1, ty - th - base), (x1 + tw, ty), c, -1)
        cv2.putText(img, name, (x1, ty - base), font, scale, (0, 0, 0), 1, cv2.LINE_AA)


def tile(images: List[np.ndarray]) -> np.ndarray:
    """Tile (H, W, 3) uint8 images into a near-square grid on a white background."""
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    cell_h = max(i.shape[0] for i in images)
    cell_w = max(i.shape[1] for i in images)
    grid = np.full(
        (rows * cell_h + (rows - 1) * GAP, cols * cell_w + (cols - 1) * GAP, 3), 255, np.uint8
    )
    for k, img in enumerate(images):
        y, x = (k // cols) * (cell_h + GAP), (k % cols) * (cell_w + GAP)
        grid[y : y + img.shape[0], x : x + img.shape[1]] = img
    return grid


def main(argv: Optional[Sequence[str]] = None) -> Path:
    """Build the train dataset of a config and write the sample grid.

    Returns:
        Path: The PNG written.

    Raises:
        RunCheckError: when the config or its training data are missing, or
            an annotation file is not valid JSON (the message says which and
            how to fix it, as ``tools/train.py``'s).
    """
    args = parse_args(argv)
    cfg = load_tool_config(args.config, cfg_options=args.cfg_options)
    check_run(cfg, args.config, 'browse')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    with json_errors_named(cfg, args.config, 'browse'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    classes = list(dataset.metainfo.get('classes', ()))
    cells = []
    for index in range(min(args.num, len(dataset))):
        sample = dataset[index]
        img = to_bgr_uint8(sample['inputs'])
        data_sample = sample['data_samples']
        for field, colour in (('ignored_instances', (160, 160, 160)), ('gt_instances', None)):
            instances = data_sample.get(field)
            if instances is None or 'bboxes' not in instances:
                continue
            boxes = instances.bboxes
            boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
            draw_sample(img, boxes.numpy(), instances.labels.numpy(), classes, colour)
        cells.append(img)
    if not cells:
        raise RuntimeError(f'the train dataset of {args.config} is empty')

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f'browse_{Path(args.config).stem}.png'
    if not cv2.imwrite(str(out_path), tile(cells)):
        raise OSError(f'could not write {out_path}')
    print(f'{len(cells)} samples written to {out_path}')
    return out_path


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(EXIT_MISSING)
