"""COCO detection dataset that reports bad annotations instead of hiding them."""

import json
import logging
import math
from typing import List, Optional, Union

from mmdet.datasets import CocoDataset
from mmengine.logging import print_log

from ssd_plugin.registry import DATASETS

_COUNTERS = ('invalid', 'malformed', 'outside', 'tiny', 'clipped', 'unselected', 'orphan')


def json_error_text(path: str, err: json.JSONDecodeError) -> str:
    """``'PATH is not valid JSON: WHAT at line L column C (char P of N)'``: the
    file and the parse position, which ``json.JSONDecodeError`` and pycocotools omit."""
    what = err.msg[:-3] if err.msg.endswith(' at') else err.msg  # 'starting at'
    return (
        f'{path} is not valid JSON: {what} at line {err.lineno} column {err.colno} '
        f'(char {err.pos} of {len(err.doc)})'
    )


@DATASETS.register_module()
class SSDCocoDataset(CocoDataset):
    """mmdet's ``CocoDataset`` with explicit handling of bad annotations.

    mmdet's ``CocoDataset`` silently drops boxes of zero or negative size,
    boxes outside the image and annotations whose ``category_id`` is unknown,
    and keeps boxes that extend past the image. This dataset, everything else
    being mmdet's (``filter_cfg`` with ``filter_empty_gt`` and ``min_size``,
    ``metainfo``, ``iscrowd`` as ``ignore_flag``, masks):

    * **Zero or negative size** (``w <= 0`` or ``h <= 0``), or a ``bbox`` that
      is not 4 finite numbers (counted apart): ``invalid_box='filter'`` drops
      them and logs how many; ``invalid_box='error'`` raises ``ValueError`` naming the
      annotation file, the image, the annotation id and the box.
    * **Partly outside the image**: clipped to ``[0, width] x [0, height]``.
      Boxes with no area inside the image, or under 1 px after clipping (as
      mmdet), are dropped and counted.
    * **Unknown category ids** (not in the file's ``categories``): always a
      ``ValueError`` naming the file, the annotation and the id. Ids of
      declared categories that the ``metainfo`` classes leave out (training
      on a subset of classes) are dropped and counted, as in mmdet.
    * **Classes of the metainfo missing from the file**: ``ValueError`` naming
      them. mmdet would silently shift every label after the missing one.
    * **Image ids used twice**: ``ValueError`` naming each id and its files.
      pycocotools keeps one image of the id, and mmdet trains the boxes of
      both on it.

    * **Annotations of missing images** (an ``image_id`` not in ``images``):
      counted and reported in a warning naming some of the ids (pycocotools
      and mmdet drop them silently).
    * **Not valid JSON**: ``ValueError`` naming the file and the parse
      position.
    * **Images without objects**: with ``filter_cfg.filter_empty_gt=True``
      they are dropped, also those whose every box was dropped above (mmdet
      keeps those); with False they stay and give negatives only.

    One warning per file sums up what was dropped or clipped.

    Args:
        invalid_box: ``'filter'`` (default) or ``'error'``, for boxes of zero
            or negative size.
        clip_to_image: Clip boxes to the image (default True).
        **kwargs: The arguments of mmdet's ``CocoDataset`` (``ann_file``,
            ``data_root``, ``data_prefix``, ``filter_cfg``, ``pipeline``, ...).
    """

    def __init__(self, *args, invalid_box: str = 'filter', clip_to_image: bool = True, **kwargs):
        if invalid_box not in ('filter', 'error'):
            raise ValueError(f'invalid_box must be "filter" or "error", got {invalid_box!r}')
        self.invalid_box = invalid_box
        self.clip_to_image = clip_to_image
        self._reset_counts()
        super().__init__(*args, **kwargs)

    def _reset_counts(self) -> None:
        self.annotation_counts = dict.fromkeys(_COUNTERS, 0)
        self._categories_checked = False

    def load_data_list(self) -> List[dict]:
        """Load the file (mmdet) and log what was dropped or clipped.

        Raises:
            ValueError: naming the file and the parse position when it is not
                valid JSON (pycocotools' error names neither).
        """
        self._reset_counts()
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as err:
            raise ValueError(
                f'{json_error_text(self.ann_file, err)}. Fix or regenerate the file '
                '(a truncated download or copy is the usual cause).'
            ) from err
        self._report_orphans()
        self._log_annotation_counts()
        return data_list

    def prepare_data(self, idx: int):
        """mmengine's, with the image named when its pipeline runs out of memory
        (a 10000x10000 image zoomed out by ``Expand``: mmengine's error names
        only the bytes it could not allocate)."""
        try:
            return super().prepare_data(idx)
        except MemoryError as err:
            info = self.get_data_info(idx)
            raise MemoryError(
                f'{info.get("img_path")} ({info.get("width")}x{info.get("height")} in '
                f'{self.ann_file}): out of memory in the data pipeline ({err}). Resize the '
                'image on disk, or drop it from the annotation file.'
            ) from err

    def _log_annotation_counts(self) -> None:
        """One warning summing up ``annotation_counts`` (orphans have their own)."""
        counts = self.annotation_counts
        if any(v for k, v in counts.items() if k != 'orphan'):  # orphans: their own line
            print_log(
                f'{type(self).__name__}({self.ann_file}): dropped {counts["invalid"]} '
                f'annotations of zero or negative size and {counts["malformed"]} whose bbox is '
                'not 4 finite numbers (invalid_box="filter"), '
                f'{counts["outside"]} outside their image, {counts["tiny"]} under 1 px after '
                f'clipping and {counts["unselected"]} of categories not in metainfo["classes"]; '
                f'clipped {counts["clipped"]} boxes to their image.',
                logger='current',
                level=logging.WARNING,
            )

    def _count_orphans(self) -> None:
        """Find the annotations whose ``image_id`` is not among the images.

        pycocotools indexes them under their (missing) image, and mmdet reads
        annotations image by image: they would be dropped without a word.
        Runs while ``self.coco`` exists (mmdet deletes it after loading).
        """
        self._orphans = [
            a for a in self.coco.anns.values() if a.get('image_id') not in self.coco.imgs
        ]
        self.annotation_counts['orphan'] = len(self._orphans)

    def _report_orphans(self) -> None:
        orphans, self._orphans = getattr(self, '_orphans', []), []
        if orphans:
            ids = list({a.get('image_id') for a in orphans})
            try:
                ids.sort()
            except TypeError:  # ids of mixed types
                ids.sort(key=str)
            print_log(
                f'{type(self).__name__}({self.ann_file}): {len(orphans)} annotations point to '
                f'{len(ids)} image ids missing from "images" (e.g. image ids {ids[:5]}, '
                f'annotation ids {[a.get("id") for a in orphans[:5]]}); they are not used.',
                logger='current',
                level=logging.WARNING,
            )

    def filter_data(self) -> List[dict]:
        """mmdet's filter; ``filter_empty_gt`` also drops images left empty here.

        mmdet decides emptiness from the raw file, so an image whose every box
        was dropped (e.g. all of zero size) would stay as an empty image.

        Raises:
            ValueError: when no image is left, with the count of each reason
                (mmengine would fail with "need at least one array to
                concatenate").
        """
        data_list = super().filter_data()
        if not self.test_mode and (self.filter_cfg or {}).get('filter_empty_gt', False):
            kept = [info for info in data_list if info['instances']]
            self._log_emptied(len(data_list) - len(kept))
            empty, data_list = len(data_list) - len(kept), kept
        else:
            empty = 0
        if not data_list:
            self._raise_nothing_left(empty)
        return data_list

    def _raise_nothing_left(self, emptied: int) -> None:
        counts = self.annotation_counts
        dropped = ', '.join(
            f'{counts[key]} {what}'
            for key, what in (
                ('invalid', 'of zero or negative size'),
                ('malformed', 'whose bbox is not 4 finite numbers'),
                ('outside', 'outside their image'),
                ('tiny', 'under 1 px after clipping'),
                ('unselected', 'of categories not in metainfo["classes"]'),
                ('orphan', 'of image ids missing from "images"'),
            )
            if counts[key]
        )
        filtered = len(self.data_list) - emptied
        raise ValueError(
            f'{self.ann_file}: no usable image is left. The file has {len(self.data_list)} '
            f'images; filter_cfg {self.filter_cfg} dropped {filtered} (without annotations '
            f'of the classes, or under min_size) and {emptied} more whose boxes were all '
            f'dropped. Annotations dropped: {dropped or "none"}.'
        )

    def _log_emptied(self, num: int) -> None:
        """Warn that ``filter_empty_gt`` dropped ``num`` images left empty here."""
        if num:
            print_log(
                f'{type(self).__name__}({self.ann_file}): filter_empty_gt dropped '
                f'{num} more images whose boxes were all dropped',
                logger='current',
                level=logging.WARNING,
            )

    def _check_image_ids(self) -> None:
        """Every image id must be unique: pycocotools keeps the last image of an
        id, and mmdet trains the boxes of both on it."""
        files = {}
        for img in self.coco.dataset.get('images', []):
            files.setdefault(img.get('id'), []).append(img.get('file_name'))
        doubled = {i: names for i, names in files.items() if len(names) > 1}
        if doubled:
            shown = '; '.join(
                f'id {i!r}: {", ".join(map(str, n))}' for i, n in list(doubled.items())[:5]
            )
            raise ValueError(
                f'{self.ann_file}: {len(doubled)} image ids are used by more than one image '
                f'({shown}); one image of each would vanish and its boxes be trained on the '
                'other. Give every image its own id.'
            )

    def _check_categories(self) -> None:
        """Every class of the metainfo must be a category of the file."""
        names = [cat['name'] for cat in self.coco.cats.values()]
        missing = [c for c in self.metainfo['classes'] if c not in names]
        if missing:
            raise ValueError(
                f'{self.ann_file}: metainfo classes {missing} are not categories of this file '
                f'(it has {names}); labels would be shifted. Fix metainfo["classes"] in the '
                'dataset config.'
            )
        self._categories_checked = True

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Check and clip the annotations of one image, then parse them as mmdet.

        Args:
            raw_data_info: ``raw_img_info`` (``file_name``, ``width``,
                ``height``, ...) and ``raw_ann_info`` (COCO annotations with
                ``bbox`` ``[x, y, w, h]`` and ``category_id``).

        Returns:
            mmdet's data info, ``instances`` with ``bbox`` ``[x1, y1, x2, y2]``
            inside the image.
        """
        if not self._categories_checked:
            self._check_image_ids()
            self._check_categories()
            self._count_orphans()
        img_info = raw_data_info['raw_img_info']
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                kept.append(ann)
                continue
            ann = self._check_annotation(ann, img_info)
            if ann is not None:
                kept.append(ann)
        return super().parse_data_info(dict(raw_data_info, raw_ann_info=kept))

    def _where(self, ann: dict, img_info: dict) -> str:
        return (
            f'{self.ann_file}: annotation id {ann.get("id")} of image id '
            f'{img_info.get("id", img_info.get("img_id"))} ({img_info.get("file_name")})'
        )

    def _check_annotation(self, ann: dict, img_info: dict) -> Optional[dict]:
        """The annotation with its box clipped, or None when it is dropped."""
        category = ann.get('category_id')
        if category not in self.coco.cats:
            raise ValueError(
                f'{self._where(ann, img_info)} has category_id {category!r}, which is not '
                f'among the categories of the file (ids {sorted(self.coco.cats)})'
            )
        if category not in self.cat_ids:
            self.annotation_counts['unselected'] += 1
            return None
        bbox = ann.get('bbox')
        numbers = (
            isinstance(bbox, (list, tuple))
            and len(bbox) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox)
        )
        if not numbers or bbox[2] <= 0 or bbox[3] <= 0:
            if self.invalid_box == 'error':
                need = 'width and height must be > 0' if numbers else 'it must be 4 finite numbers'
                raise ValueError(
                    f'{self._where(ann, img_info)} has bbox {bbox}: {need} (COCO bbox is '
                    '[x, y, w, h]). Fix the file, or set invalid_box="filter" on the dataset '
                    'to drop such boxes.'
                )
            self.annotation_counts['invalid' if numbers else 'malformed'] += 1
            return None
        x1, y1, w, h = (float(v) for v in bbox)
        x2, y2 = x1 + w, y1 + h
        if self.clip_to_image:
            width, height = float(img_info['width']), float(img_info['height'])
            cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
            cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
            if cx2 <= cx1 or cy2 <= cy1:
                self.annotation_counts['outside'] += 1
                return None
            if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
                self.annotation_counts['clipped'] += 1
                x1, y1, x2, y2 = cx1, cy1, cx2, cy2
        if x2 - x1 < 1 or y2 - y1 < 1:
            self.annotation_counts['tiny'] += 1
            return None
        # mmdet also drops area <= 0 (the segmentation area); the box decides here.
        area = ann.get('area')
        if not isinstance(area, (int, float)) or not area > 0:
            area = (x2 - x1) * (y2 - y1)
        return dict(ann, bbox=[x1, y1, x2 - x1, y2 - y1], area=area)
