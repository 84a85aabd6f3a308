"""The layouts of the synthetic dataset: where each puts its files, the classes it
is labelled with, and its annotations (:func:`write_annotations`). Relative to
``out_dir``:

* ``synthetic`` (the default), the six shapes, for ``type='CocoDataset'``,
  ``data_root=out_dir`` and ``metainfo=dict(classes=SYNTHETIC_CLASSES)``::

      annotations/instances_train.json   train/000000.jpg ...
      annotations/instances_val.json     val/000000.jpg ...

* ``coco2017``: COCO 2017's files and 80 classes with their (non-contiguous)
  ids, 1 to 90, so that configs written for COCO run unchanged::

      annotations/instances_train2017.json   train2017/000000.jpg ...
      annotations/instances_val2017.json     val2017/000000.jpg ...

* ``voc0712``: a ``VOCdevkit`` with VOC's 20 classes, XML annotations (1-based
  inclusive pixel coordinates) and image lists; ``num_train`` images in each
  of VOC2007 and VOC2012 ``trainval``, ``num_val`` in VOC2007 ``test``::

      VOC2007/Annotations/000000.xml ...      VOC2007/JPEGImages/000000.jpg ...
      VOC2007/ImageSets/Main/trainval.txt     VOC2007/ImageSets/Main/test.txt
      VOC2012/Annotations/2012_000000.xml ... VOC2012/JPEGImages/2012_000000.jpg ...
      VOC2012/ImageSets/Main/trainval.txt

In the real datasets' layouts, class ``k`` is drawn as shape ``k % 6``.
"""

import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple
from xml.etree import ElementTree

import numpy as np

from .classes import SYNTHETIC_CLASSES

__all__ = ['LAYOUTS', 'Split', 'layout_categories', 'layout_splits', 'write_annotations']

LAYOUTS = ('synthetic', 'coco2017', 'voc0712')
# COCO 2017's category ids of its 80 classes (mmdet's CocoDataset order): 1-90 with gaps.
COCO2017_CATEGORY_IDS = (
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70,
    *range(72, 83), *range(84, 91),
)  # fmt: skip

Objects = List[Tuple[int, np.ndarray]]  # (label, box xyxy) of each object of an image


def layout_categories(layout: str) -> List[Tuple[int, str]]:
    """``(category id, name)`` of every class a layout is labelled with, in label order.

    ``synthetic``: the six shapes, ids 1-6; ``coco2017``: mmdet's ``CocoDataset``
    classes with COCO's ids; ``voc0712``: mmdet's ``VOCDataset`` classes, ids 1-20
    (VOC's XML names classes, not ids).
    """
    if layout == 'coco2017':
        from mmdet.datasets import CocoDataset

        names = CocoDataset.METAINFO['classes']
        if len(names) != len(COCO2017_CATEGORY_IDS):
            raise ValueError(f'coco2017: {len(names)} class names but 80 category ids')
        return list(zip(COCO2017_CATEGORY_IDS, names))
    if layout == 'voc0712':
        from mmdet.datasets import VOCDataset

        return list(enumerate(VOCDataset.METAINFO['classes'], start=1))
    return list(enumerate(SYNTHETIC_CLASSES, start=1))


class Split(NamedTuple):
    """One split of a layout and where its files go (paths relative to ``out_dir``)."""

    name: str  # key in the manifest
    stream: int  # second element of each image's seed: (seed, stream, index)
    train: bool  # num_train images, else num_val
    img_dir: str
    ann_file: str  # COCO JSON, or a VOC image list (ImageSets/Main/*.txt)
    name_format: str  # file name stem of image ``first + index``
    first: int = 0  # VOC2007 test images are numbered after trainval (same folder)
    xml_dir: Optional[str] = None  # VOC: the XML files' folder (ann_file lists the images)

    def stem(self, idx: int) -> str:
        return self.name_format.format(self.first + idx)


def layout_splits(layout: str, num_train: int) -> List[Split]:
    if layout == 'synthetic':
        return [
            Split('train', 0, True, 'train/', 'annotations/instances_train.json', '{:06d}'),
            Split('val', 1, False, 'val/', 'annotations/instances_val.json', '{:06d}'),
        ]
    if layout == 'coco2017':
        ann = 'annotations/instances_{}2017.json'
        return [
            Split('train2017', 0, True, 'train2017/', ann.format('train'), '{:06d}'),
            Split('val2017', 1, False, 'val2017/', ann.format('val'), '{:06d}'),
        ]
    img07, main07, xml07 = 'VOC2007/JPEGImages/', 'VOC2007/ImageSets/Main/', 'VOC2007/Annotations/'
    img12, main12, xml12 = 'VOC2012/JPEGImages/', 'VOC2012/ImageSets/Main/', 'VOC2012/Annotations/'
    return [
        Split('VOC2007_trainval', 0, True, img07, main07 + 'trainval.txt', '{:06d}', 0, xml07),
        Split('VOC2007_test', 1, False, img07, main07 + 'test.txt', '{:06d}', num_train, xml07),
        Split('VOC2012_trainval', 2, True, img12, main12 + 'trainval.txt', '2012_{:06d}', 0, xml12),
    ]


def write_annotations(
    out_dir: str,
    split: Split,
    img_size: int,
    all_objects: Sequence[Objects],
    categories: List[Tuple[int, str]],
) -> List[Dict]:
    """Write the annotations of a split's images (``all_objects[i]``: image ``i``'s objects).

    Returns:
        The annotations in COCO's form (``bbox`` ``[x, y, w, h]``, ``area``),
        whichever form the layout writes.
    """
    annotations = []
    for idx, objects in enumerate(all_objects):
        for label, (x1, y1, x2, y2) in objects:
            w, h = round(float(x2 - x1), 2), round(float(y2 - y1), 2)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=idx + 1,
                    category_id=categories[label][0],
                    bbox=[round(float(x1), 2), round(float(y1), 2), w, h],
                    area=round(w * h, 2),
                    iscrowd=0,
                )
            )
    stems = [split.stem(idx) for idx in range(len(all_objects))]
    ann_path = osp.join(out_dir, split.ann_file)
    os.makedirs(osp.dirname(ann_path), exist_ok=True)
    if split.xml_dir is not None:
        for stem, objects in zip(stems, all_objects):
            with open(osp.join(out_dir, split.xml_dir, stem + '.xml'), 'wb') as f:
                f.write(_voc_xml(split, stem + '.jpg', img_size, objects, categories))
        with open(ann_path, 'w') as f:
            f.write(''.join(stem + '\n' for stem in stems))
        return annotations
    coco = dict(
        info=dict(description=f'ssd_plugin synthetic shapes, {split.name} split', version='1.0'),
        licenses=[],
        images=[
            dict(id=idx + 1, file_name=stem + '.jpg', width=img_size, height=img_size)
            for idx, stem in enumerate(stems)
        ],
        annotations=annotations,
        categories=[dict(id=i, name=name, supercategory='shape') for i, name in categories],
    )
    with open(ann_path, 'w') as f:  # dumps: the C encoder (dump's is pure Python), same text
        f.write(json.dumps(coco, separators=(',', ':')))
    return annotations


def _voc_xml(split: Split, file_name: str, size: int, objects: Objects, categories) -> bytes:
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
