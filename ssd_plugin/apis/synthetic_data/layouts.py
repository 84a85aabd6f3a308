"""Where each layout of the synthetic dataset puts its files, its classes, and
the COCO JSON and Pascal VOC XML it writes (see
:mod:`ssd_plugin.apis.synthetic_data.generator`)."""

from typing import Dict, List, NamedTuple, Sequence, Tuple
from xml.etree import ElementTree

from .classes import SYNTHETIC_CLASSES

__all__ = [
    'COCO2017_CATEGORY_IDS',
    'LAYOUTS',
    'Split',
    'coco_json',
    'layout_categories',
    'layout_splits',
    'voc_xml',
]

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


class Split(NamedTuple):
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
    img07, img12 = 'VOC2007/JPEGImages/', 'VOC2012/JPEGImages/'
    main07, main12 = 'VOC2007/ImageSets/Main/', 'VOC2012/ImageSets/Main/'
    return [
        Split('VOC2007_trainval', 0, True, img07, main07 + 'trainval.txt', '{:06d}'),
        Split('VOC2007_test', 1, False, img07, main07 + 'test.txt', '{:06d}', num_train),
        Split('VOC2012_trainval', 2, True, img12, main12 + 'trainval.txt', '2012_{:06d}'),
    ]


def coco_json(split: Split, images: List[Dict], annotations: List[Dict], categories) -> Dict:
    return dict(
        info=dict(description=f'ssd_plugin synthetic shapes, {split.name} split', version='1.0'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i, name=name, supercategory='shape') for i, name in categories],
    )


def voc_xml(split: Split, file_name: str, size: int, objects, categories) -> bytes:
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
