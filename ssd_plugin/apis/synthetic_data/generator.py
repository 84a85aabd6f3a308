"""A generated COCO-format detection dataset of coloured shapes.

Images hold 1-6 shapes of six classes on textured backgrounds (smooth noise,
gradients, stripes, optional clutter lines). Each object first draws its COCO
area range (small: bbox area < 32^2, medium: < 96^2, large: above) with the
probabilities ``size_mix``, then a size inside it; placements that do not fit
are drawn again within the same range, so the written mix follows
``size_mix`` instead of drifting to small objects (large ones fail to fit
more often). Aspect ratios vary (shapes are stretched along the image axes, and
turned by a random angle with ``rotate=True``), and the colour of a shape never
tells its class. Shapes placed later may cover earlier ones; a placement that
would leave an earlier shape less than ``min_visible`` visible is rejected and
drawn again, so every shape in an image is annotated and none is mostly hidden.
As in COCO, where a box is the extent of the visible segmentation, a box is the
tight extent of the pixels where the shape is visible (coverage above one half,
not covered by a later shape), not of its hidden part.

The output is fully determined by the parameters: every image has its own
random generator seeded from ``(seed, split, index)``, so runs with the same
parameters write byte-identical files (for a given OpenCV build). A
``manifest.json`` records the parameters; calling the generator again with the
same parameters on a complete output directory does nothing.

Layout of ``out_dir`` (``layout='synthetic'``, the default)::

    manifest.json
    annotations/instances_train.json
    annotations/instances_val.json
    train/000000.jpg ...
    val/000000.jpg ...

Use it in a config with ``type='CocoDataset'``, ``data_root=out_dir``,
``ann_file='annotations/instances_train.json'``,
``data_prefix=dict(img='train/')`` and ``metainfo=dict(classes=SYNTHETIC_CLASSES)``.

Two more layouts stand in for the real datasets, so that configs written for
them run unchanged on generated data (``data_root=out_dir``). Objects are the
same shapes, labelled with the real classes: class ``k`` of the list is drawn
as shape ``k % 6``.

* ``layout='coco2017'``: COCO 2017's files and its 80 classes with their
  (non-contiguous) category ids, 1 to 90::

      annotations/instances_train2017.json   train2017/000000.jpg ...
      annotations/instances_val2017.json     val2017/000000.jpg ...

* ``layout='voc0712'``: a ``VOCdevkit`` with Pascal VOC's 20 classes, XML
  annotations (1-based inclusive pixel coordinates) and image lists;
  ``num_train`` images in each of VOC2007 and VOC2012 ``trainval``,
  ``num_val`` in VOC2007 ``test``::

      VOC2007/Annotations/000000.xml ...      VOC2007/JPEGImages/000000.jpg ...
      VOC2007/ImageSets/Main/trainval.txt     VOC2007/ImageSets/Main/test.txt
      VOC2012/Annotations/2012_000000.xml ... VOC2012/JPEGImages/2012_000000.jpg ...
      VOC2012/ImageSets/Main/trainval.txt
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

from .classes import SYNTHETIC_CLASSES
from .layouts import LAYOUTS, Split, coco_json, layout_categories, layout_splits, voc_xml
from .shapes import SMALL_MAX_SIDE, draw_image

__all__ = [
    'DEFAULT_NUM_TRAIN',
    'DEFAULT_NUM_VAL',
    'SYNTHETIC_CLASSES',
    'generate_synthetic_coco',
    'read_manifest',
]

DEFAULT_NUM_TRAIN = 10000  # the demo's split sizes (tools/demo.py, tools/generate_dataset.py)
DEFAULT_NUM_VAL = 200
# 2: the area range is drawn once per object (size_mix); 3: boxes of the visible
# pixels, rotation optional (off by default)
FORMAT_VERSION = 3
MANIFEST = 'manifest.json'
MIN_IMG_SIZE = 128
_IMAGE_NAME = re.compile(r'^(\d{4}_)?\d{6}\.jpg$')  # VOC2012-style names: 2012_000000.jpg
_XML_NAME = re.compile(r'^(\d{4}_)?\d{6}\.xml$')


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
        (params['min_objects'], params['max_objects']),
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


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one core per worker process


def _remove_stale(folder: str, pattern: re.Pattern) -> None:
    """Delete the files of an earlier generation (names matching ``pattern``) in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if pattern.match(name):
            os.remove(osp.join(folder, name))


def _write_split(
    out_dir: str,
    layout: str,
    split: Split,
    num_images: int,
    params: Dict,
    workers: int,
    log: Callable[[str], None],
) -> Dict:
    size = params['img_size']
    categories = layout_categories(layout)
    # one dict shared by every task
    job = dict(params, out_dir=out_dir, num_classes=len(categories))
    tasks = [
        (job, split.stream, idx, split.img_dir + split.stem(idx) + '.jpg')
        for idx in range(num_images)
    ]
    if workers > 1 and num_images > 1:
        # fork: the workers need only numpy and OpenCV, not a fresh interpreter
        # that would import the whole package again.
        with multiprocessing.get_context('fork').Pool(workers, _init_worker) as pool:
            all_objects = pool.map(_render_file, tasks, chunksize=64)
    else:
        all_objects = [_render_file(task) for task in tasks]
    images, annotations = [], []
    area_counts = {'small': 0, 'medium': 0, 'large': 0}
    voc_dir = osp.join(out_dir, osp.dirname(split.img_dir.rstrip('/')))
    for idx, objects in enumerate(all_objects):
        file_name = split.stem(idx) + '.jpg'
        images.append(dict(id=idx + 1, file_name=file_name, width=size, height=size))
        for label, (x1, y1, x2, y2) in objects:
            w, h = round(float(x2 - x1), 2), round(float(y2 - y1), 2)
            area = round(w * h, 2)
            bucket = 'small' if area < 32**2 else 'medium' if area < 96**2 else 'large'
            area_counts[bucket] += 1
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=idx + 1,
                    category_id=categories[label][0],
                    bbox=[round(float(x1), 2), round(float(y1), 2), w, h],
                    area=area,
                    iscrowd=0,
                )
            )
        if layout == 'voc0712':
            xml = voc_xml(split, file_name, size, objects, categories)
            with open(osp.join(voc_dir, 'Annotations', split.stem(idx) + '.xml'), 'wb') as f:
                f.write(xml)
    ann_path = osp.join(out_dir, split.ann_file)
    os.makedirs(osp.dirname(ann_path), exist_ok=True)
    with open(ann_path, 'w') as f:
        if layout == 'voc0712':
            f.write(''.join(split.stem(idx) + '\n' for idx in range(num_images)))
        else:
            json.dump(coco_json(split, images, annotations, categories), f, separators=(',', ':'))
    log(f'{split.name}: {num_images} images, {len(annotations)} objects {area_counts}')
    return dict(
        ann_file=split.ann_file,
        img_dir=split.img_dir,
        images=num_images,
        annotations=len(annotations),
        area_counts=area_counts,
    )


def read_manifest(out_dir: str) -> Optional[Dict]:
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
    for img_dir, count in expected.items():
        path = osp.join(out_dir, img_dir)
        if not osp.isdir(path) or sum(1 for n in os.listdir(path) if _IMAGE_NAME.match(n)) != count:
            return False
    return True


def generate_synthetic_coco(
    out_dir: str,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = DEFAULT_NUM_VAL,
    img_size: int = 128,
    seed: int = 0,
    min_objects: int = 1,
    max_objects: int = 6,
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
        layout: ``'synthetic'`` (six shape classes, ``train/``, ``val/``),
            ``'coco2017'`` (COCO 2017's files and 80 classes) or ``'voc0712'``
            (a ``VOCdevkit`` with VOC2007 and VOC2012, 20 classes); see the
            module docstring. ``num_train`` images go to each training split
            (VOC2007 and VOC2012 ``trainval``), ``num_val`` to the test split.

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
    if layout != 'synthetic':  # the default leaves earlier manifests valid
        params['layout'] = layout
    old = read_manifest(out_dir)
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
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = osp.join(out_dir, MANIFEST)
    if osp.exists(manifest_path):  # an interrupted run must not look complete
        os.remove(manifest_path)
    splits_of_layout = layout_splits(layout, num_train)
    for img_dir in dict.fromkeys(split.img_dir for split in splits_of_layout):
        _remove_stale(osp.join(out_dir, img_dir), _IMAGE_NAME)  # images of an earlier run
        if layout == 'voc0712':
            _remove_stale(
                osp.join(out_dir, osp.dirname(img_dir.rstrip('/')), 'Annotations'), _XML_NAME
            )
    splits = {
        split.name: _write_split(
            out_dir,
            layout,
            split,
            num_train if split.train else num_val,
            params,
            workers,
            log,
        )
        for split in splits_of_layout
    }
    manifest = dict(
        generator='ssd_plugin.apis.synthetic_data',
        format_version=FORMAT_VERSION,
        params=params,
        classes=[name for _, name in layout_categories(layout)],
        splits=splits,
    )
    tmp = manifest_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, manifest_path)
    return dict(manifest, skipped=False)
