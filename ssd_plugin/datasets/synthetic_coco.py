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
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple
from xml.etree import ElementTree

import cv2
import numpy as np

__all__ = [
    'COCO2017_CATEGORY_IDS',
    'DEFAULT_NUM_TRAIN',
    'DEFAULT_NUM_VAL',
    'LAYOUTS',
    'SYNTHETIC_CLASSES',
    'layout_categories',
    'generate_synthetic_coco',
    'read_manifest',
]

SYNTHETIC_CLASSES = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')
DEFAULT_NUM_TRAIN = 10000  # the demo's split sizes (tools/demo.py, tools/generate_dataset.py)
DEFAULT_NUM_VAL = 200
# 2: the area range is drawn once per object (size_mix); 3: boxes of the visible
# pixels, rotation optional (off by default)
FORMAT_VERSION = 3
MANIFEST = 'manifest.json'
SMALL_MAX_SIDE = 32.0  # COCO: small if area < 32 ** 2
MEDIUM_MAX_SIDE = 96.0  # COCO: medium if area < 96 ** 2, large above
MIN_IMG_SIZE = 128
_IMAGE_NAME = re.compile(r'^(\d{4}_)?\d{6}\.jpg$')  # VOC2012-style names: 2012_000000.jpg
_XML_NAME = re.compile(r'^(\d{4}_)?\d{6}\.xml$')
LAYOUTS = ('synthetic', 'coco2017', 'voc0712')
# COCO 2017's category ids of its 80 classes (mmdet's CocoDataset order): 1-90 with gaps.
COCO2017_CATEGORY_IDS = (
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70,
    *range(72, 83), *range(84, 91),
)  # fmt: skip


def layout_categories(layout: str) -> List[Tuple[int, str]]:
    """``(category id, name)`` of every class a layout is labelled with, in label order.

    ``synthetic``: the six shapes, ids 1-6; ``coco2017``: mmdet's ``CocoDataset``
    classes with COCO's ids; ``voc0712``: mmdet's ``VOCDataset`` classes, ids 1-20
    (VOC's XML names classes, not ids).
    """
    if layout == 'synthetic':
        names: Sequence[str] = SYNTHETIC_CLASSES
        ids: Sequence[int] = range(1, len(names) + 1)
    elif layout == 'coco2017':
        from mmdet.datasets import CocoDataset

        names, ids = CocoDataset.METAINFO['classes'], COCO2017_CATEGORY_IDS
    elif layout == 'voc0712':
        from mmdet.datasets import VOCDataset

        names = VOCDataset.METAINFO['classes']
        ids = range(1, len(names) + 1)
    else:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if len(names) != len(ids):
        raise ValueError(f'{layout}: {len(names)} class names but {len(ids)} category ids')
    return list(zip(ids, names))


class _Split(NamedTuple):
    """One split of a layout and where its files go (paths relative to ``out_dir``)."""

    name: str  # key in the manifest
    stream: int  # second element of each image's seed: (seed, stream, index)
    train: bool  # num_train images, else num_val
    img_dir: str
    ann_file: str  # COCO JSON, or a VOC image list (ImageSets/Main/*.txt)
    name_format: str  # file name stem of image ``first + index``
    first: int = 0  # VOC2007 test images are numbered after trainval (same folder)

    def stem(self, idx: int) -> str:
        return self.name_format.format(self.first + idx)


def _layout_splits(layout: str, num_train: int) -> List[_Split]:
    if layout == 'synthetic':
        return [
            _Split('train', 0, True, 'train/', 'annotations/instances_train.json', '{:06d}'),
            _Split('val', 1, False, 'val/', 'annotations/instances_val.json', '{:06d}'),
        ]
    if layout == 'coco2017':
        ann = 'annotations/instances_{}2017.json'
        return [
            _Split('train2017', 0, True, 'train2017/', ann.format('train'), '{:06d}'),
            _Split('val2017', 1, False, 'val2017/', ann.format('val'), '{:06d}'),
        ]
    img07, img12 = 'VOC2007/JPEGImages/', 'VOC2012/JPEGImages/'
    main07, main12 = 'VOC2007/ImageSets/Main/', 'VOC2012/ImageSets/Main/'
    return [
        _Split('VOC2007_trainval', 0, True, img07, main07 + 'trainval.txt', '{:06d}'),
        _Split('VOC2007_test', 1, False, img07, main07 + 'test.txt', '{:06d}', num_train),
        _Split('VOC2012_trainval', 2, True, img12, main12 + 'trainval.txt', '2012_{:06d}'),
    ]


Polygon = np.ndarray  # (N, 2) float64, COCO pixel-edge coordinates
Part = Tuple[Polygon, int]  # polygon and fill value (1: shape, 0: hole)


def _unit_shape(label: int, rng: np.random.Generator) -> List[Part]:
    """Outline of a class, centred at 0 with radius about 1."""
    name = SYNTHETIC_CLASSES[label]
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    if name == 'ellipse':
        return [(circle, 1)]
    if name == 'ring':
        return [(circle, 1), (circle * rng.uniform(0.45, 0.62), 0)]
    if name == 'rectangle':
        return [(np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64), 1)]
    if name == 'triangle':
        apex = rng.uniform(-1.0, 1.0)
        return [(np.array([[-1, 1], [1, 1], [apex, -1]], dtype=np.float64), 1)]
    if name == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.5))
        return [(np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1), 1)]
    # cross: a plus sign with arms of half-thickness t.
    t = rng.uniform(0.25, 0.38)
    flat = [-t, -1, t, -1, t, -t, 1, -t, 1, t, t, t, t, 1, -t, 1, -t, t, -1, t, -1, -t, -t, -t]
    return [(np.array(flat, dtype=np.float64).reshape(-1, 2), 1)]


def _sample_side(
    rng: np.random.Generator, img_size: int, bucket: int, min_side: Optional[float] = None
) -> float:
    """Side (sqrt of bbox area) of a new object in COCO area range ``bucket``.

    Args:
        rng: The image's random generator.
        img_size: Side of the image in pixels.
        bucket: 0 small (side < 32), 1 medium (< 96), 2 large.
        min_side: Smallest side of a small object; None: ``max(10, 0.06 * img_size)``.
    """
    min_side = max(10.0, 0.06 * img_size) if min_side is None else float(min_side)
    max_side = 0.8 * img_size
    low, high = (
        (min_side, SMALL_MAX_SIDE - 1.0),
        (SMALL_MAX_SIDE + 1.0, MEDIUM_MAX_SIDE - 1.0),
        (MEDIUM_MAX_SIDE + 1.0, max_side),
    )[bucket]
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _place_shape(
    label: int,
    rng: np.random.Generator,
    img_size: int,
    bucket: int,
    rotate: bool,
    min_side: Optional[float] = None,
) -> Optional[List[Part]]:
    """A shape of the class, stretched, scaled, optionally rotated, placed in the image.

    Returns:
        The polygons in image coordinates, or None when the drawn size does
        not fit the image.
    """
    parts = _unit_shape(label, rng)
    aspect = math.exp(rng.uniform(math.log(0.4), math.log(2.5)))
    angle = rng.uniform(0, 2 * np.pi) if rotate else 0.0
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    stretch = np.array([math.sqrt(aspect), 1 / math.sqrt(aspect)])
    parts = [((poly * stretch) @ rot.T, fill) for poly, fill in parts]
    outer = parts[0][0]
    extent = outer.max(axis=0) - outer.min(axis=0)
    scale = _sample_side(rng, img_size, bucket, min_side) / math.sqrt(extent[0] * extent[1])
    size = extent * scale
    if size.max() > img_size - 4 or size.min() < 4:
        return None
    centre_off = (outer.max(axis=0) + outer.min(axis=0)) / 2 * scale
    low = size / 2 + 1
    centre = rng.uniform(low, img_size - low) - centre_off
    return [(poly * scale + centre, fill) for poly, fill in parts]


def _render_alpha(parts: Sequence[Part], img_size: int) -> np.ndarray:
    """Anti-aliased coverage (float32 in [0, 1]) of a shape."""
    mask = np.zeros((img_size, img_size), np.uint8)
    for poly, fill in parts:
        # cv2 fills pixel (i, j) around its centre; COCO's pixel i spans [i, i+1).
        pts = np.round((poly - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255 * fill, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(90, 255), rng.uniform(90, 255)]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _ramp(rng: np.random.Generator, img_size: int) -> np.ndarray:
    """Projection of pixel positions on a random direction, in [0, 1]."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:img_size, 0:img_size].astype(np.float32)
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    return (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)


def _background(rng: np.random.Generator, img_size: int) -> np.ndarray:
    """A textured background: smooth noise, a gradient or stripes."""
    kind = rng.integers(3)
    c0, c1 = _random_colour(rng), _random_colour(rng)
    if kind == 0:
        cells = int(rng.integers(2, 7))
        low = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        img = cv2.resize(low, (img_size, img_size), interpolation=cv2.INTER_CUBIC)
    else:
        t = _ramp(rng, img_size)
        if kind == 2:
            period = rng.uniform(0.04, 0.18)
            t = 0.5 + 0.5 * np.sin(2 * np.pi * t / period)
        img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    if rng.random() < 0.4:  # clutter: thin lines that are not objects
        for _ in range(int(rng.integers(2, 7))):
            p0 = tuple(int(v) for v in rng.integers(0, img_size, 2))
            p1 = tuple(int(v) for v in rng.integers(0, img_size, 2))
            colour = tuple(float(v) for v in _random_colour(rng))
            cv2.line(img, p0, p1, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img.astype(np.float32)


def _pick_colour(rng: np.random.Generator, canvas: np.ndarray, hard: np.ndarray) -> np.ndarray:
    """A random colour that stands out from what the shape will cover."""
    under = canvas[hard].mean(axis=0)
    best, best_dist = None, -1.0
    for _ in range(12):
        colour = _random_colour(rng)
        dist = float(np.linalg.norm(colour - under))
        if dist > best_dist:
            best, best_dist = colour, dist
        if dist >= 80:
            break
    return best


def _visible_boxes(owner: np.ndarray, num_objects: int) -> np.ndarray:
    """Tight boxes of each object's visible pixels.

    Args:
        owner: ``(H, W)`` index of the object seen at each pixel, -1 for
            background.
        num_objects: Number of objects; each must own at least one pixel.

    Returns:
        ``(num_objects, 4)`` float64 ``[x1, y1, x2, y2]`` in COCO pixel-edge
        coordinates: pixel ``(row i, col j)`` spans ``[j, j + 1) x [i, i + 1)``.
    """
    boxes = np.zeros((num_objects, 4), np.float64)
    for j in range(num_objects):
        rows, cols = np.nonzero(owner == j)
        if rows.size == 0:
            raise ValueError(f'object {j} has no visible pixel')
        boxes[j] = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    return boxes


def _draw_image(
    rng: np.random.Generator,
    img_size: int,
    num_objects: Tuple[int, int],
    min_visible: float,
    size_mix: Sequence[float],
    rotate: bool,
    min_side: Optional[float] = None,
    num_classes: int = len(SYNTHETIC_CLASSES),
) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One image and its ``(label, box xyxy)`` list, boxes of the visible pixels.

    Labels are drawn from ``range(num_classes)``; label ``k`` is drawn as shape
    ``k % 6`` (with the default six classes, the shape itself).
    """
    canvas = _background(rng, img_size)
    owner = np.full((img_size, img_size), -1, np.int16)
    areas: List[int] = []
    labels: List[int] = []
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        label = int(rng.integers(num_classes))
        bucket = int(rng.choice(3, p=size_mix))  # once per object: retries keep the range
        for _attempt in range(30):
            parts = _place_shape(
                label % len(SYNTHETIC_CLASSES), rng, img_size, bucket, rotate, min_side
            )
            if parts is None:
                continue
            alpha = _render_alpha(parts, img_size)
            hard = alpha > 0.5
            if not hard.any():
                continue
            shown = np.bincount(owner[(owner >= 0) & ~hard], minlength=len(areas))
            if all(shown[j] >= min_visible * areas[j] for j in range(len(areas))):
                break
        else:
            continue  # no placement keeps the earlier shapes visible: drop this one
        colour = _pick_colour(rng, canvas, hard)
        shade = 1 + rng.uniform(-0.25, 0.25) * (2 * _ramp(rng, img_size) - 1)
        paint = np.clip(colour * shade[..., None], 0, 255)
        canvas = canvas * (1 - alpha[..., None]) + paint * alpha[..., None]
        owner[hard] = len(areas)
        areas.append(int(hard.sum()))
        labels.append(label)
    canvas += rng.normal(0, rng.uniform(2, 7), canvas.shape).astype(np.float32)
    if rng.random() < 0.3:
        canvas = cv2.GaussianBlur(canvas, (3, 3), 0.6)
    # Placements keep every object >= min_visible visible, so each owns pixels.
    objects = list(zip(labels, _visible_boxes(owner, len(labels))))
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8), objects


def _render_file(task: Tuple[Dict, int, int, str]) -> List[Tuple[int, np.ndarray]]:
    """Draw image ``idx`` of a split, write it as JPEG to ``path``, return its objects.

    Runs in a worker process when ``workers > 1``; the image's own random
    generator, seeded from ``(seed, stream, idx)`` (``stream``: the split's
    number), makes the output the same whichever process draws it.
    """
    params, stream, idx, path = task
    rng = np.random.default_rng([params['seed'], stream, idx])
    img, objects = _draw_image(
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


def _coco_json(split: _Split, images: List[Dict], annotations: List[Dict], categories) -> Dict:
    return dict(
        info=dict(description=f'ssd_plugin synthetic shapes, {split.name} split', version='1.0'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i, name=name, supercategory='shape') for i, name in categories],
    )


def _voc_xml(split: _Split, file_name: str, size: int, objects, categories) -> bytes:
    """Pascal VOC annotation of one image: 1-based, inclusive pixel coordinates."""
    root = ElementTree.Element('annotation')
    ElementTree.SubElement(root, 'folder').text = split.img_dir.split('/')[0]
    ElementTree.SubElement(root, 'filename').text = file_name
    size_el = ElementTree.SubElement(root, 'size')
    for key, value in (('width', size), ('height', size), ('depth', 3)):
        ElementTree.SubElement(size_el, key).text = str(value)
    ElementTree.SubElement(root, 'segmented').text = '0'
    for label, (x1, y1, x2, y2) in objects:
        obj = ElementTree.SubElement(root, 'object')
        ElementTree.SubElement(obj, 'name').text = categories[label][1]
        ElementTree.SubElement(obj, 'pose').text = 'Unspecified'
        ElementTree.SubElement(obj, 'truncated').text = '0'
        ElementTree.SubElement(obj, 'difficult').text = '0'
        box = ElementTree.SubElement(obj, 'bndbox')
        # Pixel-edge [x1, x2) holds pixels x1 .. x2 - 1, i.e. VOC's x1 + 1 .. x2.
        for key, value in (('xmin', x1 + 1), ('ymin', y1 + 1), ('xmax', x2), ('ymax', y2)):
            ElementTree.SubElement(box, key).text = str(int(round(float(value))))
    return ElementTree.tostring(root, encoding='utf-8')


def _write_split(
    out_dir: str,
    layout: str,
    split: _Split,
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
            xml = _voc_xml(split, file_name, size, objects, categories)
            with open(osp.join(voc_dir, 'Annotations', split.stem(idx) + '.xml'), 'wb') as f:
                f.write(xml)
    ann_path = osp.join(out_dir, split.ann_file)
    os.makedirs(osp.dirname(ann_path), exist_ok=True)
    with open(ann_path, 'w') as f:
        if layout == 'voc0712':
            f.write(''.join(split.stem(idx) + '\n' for idx in range(num_images)))
        else:
            json.dump(_coco_json(split, images, annotations, categories), f, separators=(',', ':'))
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
    layout_splits = _layout_splits(layout, num_train)
    for img_dir in dict.fromkeys(split.img_dir for split in layout_splits):
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
        for split in layout_splits
    }
    manifest = dict(
        generator='ssd_plugin.datasets.synthetic_coco',
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
