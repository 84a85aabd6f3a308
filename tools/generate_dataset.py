"""Generate the synthetic COCO-format shapes dataset (see tools/synthetic_data/).

Examples::

    python tools/generate_dataset.py --out data/synthetic
    python tools/generate_dataset.py --out data/synthetic --num-train 2000 --num-val 200 \\
        --img-size 128 --seed 0
    # stand-ins for the real datasets, in the layout and classes the configs expect:
    python tools/generate_dataset.py --layout coco2017 --out data/coco --num-train 64
    python tools/generate_dataset.py --layout voc0712 --out data/VOCdevkit --num-train 64

Running it again with the same parameters leaves a complete dataset untouched.
"""

import argparse
import os
import sys
import time
from typing import List, Optional

from synthetic_data import (  # beside this script: Python searches its folder first
    DEFAULT_NUM_TRAIN,
    DEFAULT_NUM_VAL,
    LAYOUTS,
    generate_synthetic_coco,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Generate the synthetic shapes dataset')
    parser.add_argument('--out', default='data/synthetic', help='output directory')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN, help='training images')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL, help='validation images')
    parser.add_argument('--img-size', type=int, default=128, help='image side in pixels (>=128)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--min-objects', type=int, default=1, help='fewest objects per image')
    parser.add_argument('--max-objects', type=int, default=6, help='most objects per image')
    parser.add_argument(
        '--train-objects',
        type=int,
        nargs=2,
        metavar=('FEWEST', 'MOST'),
        help='objects per training image, where they differ from --min/--max-objects '
        '(tools/demo.py: 4 9)',
    )
    parser.add_argument(
        '--rotate', action='store_true', help='turn each shape by a random angle (harder)'
    )
    parser.add_argument(
        '--size-mix',
        type=float,
        nargs=3,
        default=(0.35, 0.45, 0.2),
        metavar=('SMALL', 'MEDIUM', 'LARGE'),
        help='probabilities of COCO small/medium/large objects',
    )
    parser.add_argument(
        '--min-side',
        type=float,
        help='smallest object side in px (sqrt of box area; default max(10, 0.06 * img-size))',
    )
    parser.add_argument(
        '--workers',
        type=int,
        default=min(2, os.cpu_count() or 1),
        help='processes that draw the images (the files do not depend on it)',
    )
    parser.add_argument(
        '--force', action='store_true', help='regenerate even if the dataset is already there'
    )
    parser.add_argument(
        '--layout',
        choices=LAYOUTS,
        default='synthetic',
        help='synthetic: 6 shape classes in train/ and val/; coco2017: COCO 2017 files '
        '(annotations/instances_train2017.json, train2017/, ...) and 80 classes, for '
        '--out data/coco; voc0712: VOC2007 + VOC2012 (XML, ImageSets/Main) and 20 classes, '
        'for --out data/VOCdevkit. --num-train images per training split.',
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Generate; returns the exit status (2 for unusable parameters)."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = generate_synthetic_coco(
            args.out,
            num_train=args.num_train,
            num_val=args.num_val,
            img_size=args.img_size,
            seed=args.seed,
            min_objects=args.min_objects,
            max_objects=args.max_objects,
            train_objects=args.train_objects,
            rotate=args.rotate,
            size_mix=tuple(args.size_mix),
            min_side=args.min_side,
            force=args.force,
            workers=args.workers,
            layout=args.layout,
        )
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if not manifest['skipped']:
        print(f'dataset written to {args.out} in {time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
