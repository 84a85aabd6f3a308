"""The synthetic shapes dataset: COCO-format (or Pascal VOC) detection data of
coloured shapes that the demo, the benchmarks and the tests train and test on.

Images hold 1-6 shapes of six classes on textured backgrounds (:mod:`.shapes`
draws them); a box is the tight extent of the pixels where its shape is
visible, as in COCO. Every image has its own random generator seeded from
``(seed, split, index)``, so equal parameters write byte-identical files (for
a given OpenCV build), with any number of ``workers``. A ``manifest.json``
records the parameters; the same call on a complete output does nothing.

Three layouts, listed with their files in :mod:`.layouts`: the six shapes
(``synthetic``, the default) and stand-ins for COCO 2017 and Pascal VOC
2007+2012 in their files and classes.
"""

import json
import math
import multiprocessing
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .layouts import LAYOUTS, Split, layout_categories, layout_splits, write_annotations
from .shapes import SMALL_MAX_SIDE, draw_image

__all__ = ['DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'generate_synthetic_coco']

DEFAULT_NUM_TRAIN = 10000  # the demo's split sizes (tools/demo.py, tools/generate_dataset.py)
DEFAULT_NUM_VAL = 200
# 2: the area range is drawn once per object (size_mix); 3: boxes of the visible
# pixels, rotation optional (off by default)
FORMAT_VERSION = 3
MANIFEST = 'manifest.json'
MIN_IMG_SIZE = 128


def _file_names(ext: str) -> re.Pattern:
    """Names of the files an earlier run wrote: 000000.jpg, VOC2012's 2012_000000.jpg."""
    return re.compile(r'^(\d{4}_)?\d{6}\.' + ext + '$')


def _render_file(task: Tuple[Dict, int, int, str]) -> List[Tuple[int, np.ndarray]]:
    """Draw image ``idx`` of a split, write it as JPEG to ``path``, return its objects.

    Runs in a worker process when ``workers > 1``; the image's own random
    generator, seeded from ``(seed, stream, idx)`` (``stream``: the split's
    number), makes the output the same whichever process draws it.
    """
    params, stream, idx, path = task
    rng = np.random.default_rng([params['seed'], stream, idx])
    img, objects = draw_image(
        rng,
        params['img_size'],
        params['objects'],
        params['min_visible'],
        params['size_mix'],
        params['rotate'],
        params.get('min_side'),
        params['num_classes'],
    )
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, params['jpeg_quality']])
    if not ok:
        raise RuntimeError(f'OpenCV could not encode {path}')
    with open(osp.join(params['out_dir'], path), 'wb') as f:
        f.write(buf.tobytes())
    return objects


def _write_split(
    out_dir: str,
    categories: List[Tuple[int, str]],
    split: Split,
    num_images: int,
    params: Dict,
    workers: int,
    log: Callable[[str], None],
) -> Dict:
    """Draw and write a split's images and annotations; returns its manifest entry."""
    objects = (params['min_objects'], params['max_objects'])
    if split.train and 'train_objects' in params:
        objects = tuple(params['train_objects'])
    # shared by every task
    job = dict(params, out_dir=out_dir, num_classes=len(categories), objects=objects)
    tasks = [
        (job, split.stream, idx, split.img_dir + split.stem(idx) + '.jpg')
        for idx in range(num_images)
    ]
    if workers > 1 and num_images > 1:
        # fork: the workers need only numpy and OpenCV, not a fresh interpreter that
        # would import the caller's __main__ (the demo's: torch, mmengine) again. OpenCV
        # runs single-threaded in this process while they are forked and run: a child
        # forked while OpenCV's thread pool is up waits for that pool's threads, which
        # the child does not have, and hangs (it did in the suite, after tests that had
        # used OpenCV in the pytest process).
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with multiprocessing.get_context('fork').Pool(workers) as pool:
                all_objects = pool.map(_render_file, tasks, chunksize=64)
        finally:
            cv2.setNumThreads(threads)
    else:
        all_objects = [_render_file(task) for task in tasks]
    annotations = write_annotations(out_dir, split, params['img_size'], all_objects, categories)
    area_counts = {'small': 0, 'medium': 0, 'large': 0}  # COCO's area ranges
    for ann in annotations:
        area = ann['area']
        area_counts['small' if area < 32**2 else 'medium' if area < 96**2 else 'large'] += 1
    log(f'{split.name}: {num_images} images, {len(annotations)} objects {area_counts}')
    return dict(
        ann_file=split.ann_file,
        img_dir=split.img_dir,
        images=num_images,
        annotations=len(annotations),
        area_counts=area_counts,
    )


def _read_manifest(out_dir: str) -> Optional[Dict]:
    """The manifest of a generated dataset, or None if there is none."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: str, manifest: Dict) -> bool:
    expected: Dict[str, int] = {}  # image folder -> images (VOC2007's splits share one)
    for info in manifest.get('splits', {}).values():
        if not osp.isfile(osp.join(out_dir, info['ann_file'])):
            return False
        expected[info['img_dir']] = expected.get(info['img_dir'], 0) + info['images']
    images = _file_names('jpg')
    for img_dir, count in expected.items():
        path = osp.join(out_dir, img_dir)
        if not osp.isdir(path) or sum(1 for n in os.listdir(path) if images.match(n)) != count:
            return False
    return True


def _clear(out_dir: str, splits: List[Split]) -> None:
    """Remove what an earlier run left: its manifest first (an interrupted run must not
    look complete), then its images and VOC XML files."""
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = osp.join(out_dir, MANIFEST)
    if osp.exists(manifest_path):
        os.remove(manifest_path)
    folders = {split.img_dir: _file_names('jpg') for split in splits}
    folders.update((split.xml_dir, _file_names('xml')) for split in splits if split.xml_dir)
    for folder, names in folders.items():
        folder = osp.join(out_dir, folder)
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if names.match(name):
                os.remove(osp.join(folder, name))


def generate_synthetic_coco(
    out_dir: str,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = DEFAULT_NUM_VAL,
    img_size: int = 128,
    seed: int = 0,
    min_objects: int = 1,
    max_objects: int = 6,
    train_objects: Optional[Tuple[int, int]] = None,
    min_visible: float = 0.6,
    size_mix: Sequence[float] = (0.35, 0.45, 0.2),
    rotate: bool = False,
    min_side: Optional[float] = None,
    jpeg_quality: int = 95,
    force: bool = False,
    workers: int = 1,
    log: Callable[[str], None] = print,
    layout: str = 'synthetic',
) -> Dict:
    """Write a COCO-format (or Pascal VOC) detection dataset of shapes to ``out_dir``.

    Args:
        out_dir: Output directory (created if needed). It must be empty, or
            hold an earlier output of this generator.
        num_train: Number of training images.
        num_val: Number of validation images.
        img_size: Side of the square images in pixels, at least 128 so that
            COCO 'large' objects (bbox area > 96^2) fit.
        seed: Seed of all randomness; equal parameters give equal files.
        min_objects: Fewest objects drawn per image.
        max_objects: Most objects per image (fewer remain where a placement
            would hide an earlier object).
        train_objects: ``(fewest, most)`` objects per training image, where
            they differ from the validation images' ``min_objects`` and
            ``max_objects`` (the demo trains on busier images: more objects
            a step for the same compute). None: the same for every split.
        min_visible: Least visible fraction of any object after occlusion.
        size_mix: Probabilities of an object being COCO small, medium and
            large. An object that finds no place (30 tries) is dropped, which
            happens more to large ones in crowded images, so the written mix
            is close to this but not equal (``area_counts`` in the manifest).
            Boxes of partly covered objects shrink to their visible part, so
            ``area_counts`` leans a little further to small.
        rotate: Turn each shape by a random angle (then its box, axis-aligned,
            also holds background corners). Off by default: the demo's target
            is measured without it (README, "Benchmarks").
        min_side: Smallest side (sqrt of bbox area, px) of a small object,
            4 to 31; None keeps ``max(10, 0.06 * img_size)``. Smaller values
            make tiny-object sets (docs/default_boxes.md).
        jpeg_quality: JPEG quality of the written images.
        force: Regenerate even if ``out_dir`` holds this dataset already, and
            write into a non-empty directory without a manifest.
        workers: Processes that draw the images (forked; the files are the
            same for any number).
        log: Called with one progress line per split.
        layout: ``'synthetic'``, ``'coco2017'`` or ``'voc0712'`` (the module
            docstring lists their files). ``num_train`` images go to each
            training split, ``num_val`` to the other.

    Returns:
        The manifest: ``params``, ``classes`` and per split ``ann_file``,
        ``img_dir``, ``images``, ``annotations`` and ``area_counts``; plus
        ``skipped`` (not stored), True when the dataset was already there.

    Raises:
        ValueError: for parameters out of range, or a non-empty ``out_dir``
            that was not written by this generator (unless ``force``).
    """
    if img_size < MIN_IMG_SIZE:
        raise ValueError(
            f'img_size={img_size} is too small: use at least {MIN_IMG_SIZE} so that COCO '
            '"large" objects (bbox area > 96^2 px) fit in the image'
        )
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}')
    if train_objects is not None and (
        len(train_objects) != 2 or not 1 <= train_objects[0] <= train_objects[1]
    ):
        raise ValueError(
            f'train_objects must be (fewest, most) with 1 <= fewest <= most, got {train_objects}'
        )
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    if not 0.0 < min_visible <= 1.0:
        raise ValueError(f'min_visible must be in (0, 1], got {min_visible}')
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {", ".join(LAYOUTS)}, got {layout!r}')
    mix = [float(p) for p in size_mix]
    if len(mix) != 3 or min(mix) < 0 or not math.isclose(sum(mix), 1.0, abs_tol=1e-6):
        raise ValueError(
            f'size_mix must be three probabilities (small, medium, large) summing to 1, '
            f'got {list(size_mix)}'
        )
    if min_side is not None and not 4.0 <= float(min_side) < SMALL_MAX_SIDE - 1.0:
        raise ValueError(f'min_side must be in [4, {SMALL_MAX_SIDE - 1.0:g}), got {min_side}')
    params = dict(
        num_train=int(num_train),
        num_val=int(num_val),
        img_size=int(img_size),
        seed=int(seed),
        min_objects=int(min_objects),
        max_objects=int(max_objects),
        min_visible=float(min_visible),
        size_mix=mix,
        rotate=bool(rotate),
        jpeg_quality=int(jpeg_quality),
    )
    if min_side is not None:  # absent by default: earlier manifests still match
        params['min_side'] = float(min_side)
    if train_objects is not None:  # absent by default, as min_side
        params['train_objects'] = [int(n) for n in train_objects]
    if layout != 'synthetic':  # the default leaves earlier manifests valid
        params['layout'] = layout
    old = _read_manifest(out_dir)
    if (
        not force
        and old is not None
        and old.get('format_version') == FORMAT_VERSION
        and old.get('params') == params
        and _is_complete(out_dir, old)
    ):
        log(f'{out_dir} already holds this dataset ({MANIFEST} matches); not regenerating')
        return dict(old, skipped=True)
    if old is None and not force and osp.isdir(out_dir) and os.listdir(out_dir):
        raise ValueError(
            f'{out_dir} is not empty and has no {MANIFEST} of this generator; choose an empty '
            'directory or pass force=True (--force) to write into it'
        )
    splits = layout_splits(layout, num_train)
    _clear(out_dir, splits)
    categories = layout_categories(layout)
    manifest = dict(
        generator='tools/synthetic_data',
        format_version=FORMAT_VERSION,
        params=params,
        classes=[name for _, name in categories],
        splits={
            split.name: _write_split(
                out_dir,
                categories,
                split,
                num_train if split.train else num_val,
                params,
                workers,
                log,
            )
            for split in splits
        },
    )
    manifest_path = osp.join(out_dir, MANIFEST)
    with open(manifest_path + '.tmp', 'w') as f:
        json.dump(manifest, f, indent=2)
    os.replace(manifest_path + '.tmp', manifest_path)
    return dict(manifest, skipped=False)
