"""SSD "zoom out" augmentation: place the image on a larger mean-filled canvas."""

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import autocast_box_type
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from numpy import random

from ssd_plugin.registry import TRANSFORMS
from ssd_plugin.utils.strict_args import strict_init

from ._lazy_canvas import (
    LazyExpandedImage,
    check_box_and_mask_types,
    check_not_lazy,
    fill_value,
    paste_on_canvas,
)

Number = Union[int, float]


def expand_masks(
    masks: Union[BitmapMasks, PolygonMasks], height: int, width: int, left: int, top: int
) -> Union[BitmapMasks, PolygonMasks]:
    """Put instance masks on a (height, width) canvas at (left, top).

    Bitmap masks use mmdet's ``BitmapMasks.expand``; polygons (for which
    mmdet 3.3 raises ``NotImplementedError``) are translated.
    """
    if isinstance(masks, BitmapMasks):
        return masks.expand(height, width, top, left)
    polygons = []
    for instance in masks.masks:
        moved = []
        for polygon in instance:  # flat [x0, y0, x1, y1, ...]
            polygon = np.asarray(polygon)
            polygon = polygon.astype(np.result_type(polygon.dtype, np.float32))
            polygon[0::2] += left
            polygon[1::2] += top
            moved.append(polygon)
        polygons.append(moved)
    return PolygonMasks(polygons, height, width)


@TRANSFORMS.register_module()
@strict_init
class Expand(BaseTransform):
    """Randomly place the image on a mean-filled canvas up to ``max_ratio`` larger.

    SSD §2.2 Data augmentation ("zoom out", used for the small-object gains in
    §3.6): with probability ``prob`` the image is put at a random position of a
    canvas ``ratio`` times its height and width, ``ratio ~ U(ratio_range)``,
    filled with the dataset mean; boxes, masks and the segmentation map move
    with it.

    Drop-in for ``mmdet.Expand`` (same arguments, same result keys, same draws
    from ``numpy.random`` in the same order, so the same seed gives the same
    output), plus ``lazy``.

    Required keys: ``img`` (np.ndarray, (H, W) or (H, W, C), any dtype).

    Optional keys (all kept aligned with ``img``):

    - ``gt_bboxes`` (:class:`HorizontalBoxes` (N, 4) float32, or np.ndarray)
    - ``gt_masks`` (:class:`BitmapMasks`, expanded with its ``expand``
      method, or :class:`PolygonMasks`, translated; mmdet's Expand raises
      ``NotImplementedError`` for polygons). Always eager, also when lazy.
    - ``gt_seg_map`` (np.ndarray (H, W)), filled with ``seg_ignore_label``.

    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``gt_masks``,
    ``gt_seg_map``.

    Lazy mode (``lazy=True``): the canvas is not allocated. ``results['img']``
    (and ``results['gt_seg_map']``) become a :class:`LazyExpandedImage`
    describing it, ``img_shape`` is the canvas shape and the boxes are already
    shifted. :class:`MinIoURandomCrop` then materialises only the patch it
    keeps (or the whole canvas when it keeps everything), with a result
    identical pixel for pixel to the eager path. Any other consumer of the lazy
    object fails with a ``LazyCanvasError`` naming the fix, so a wrong pipeline
    cannot silently train on un-expanded images. Use ``lazy=True`` only when
    ``MinIoURandomCrop`` comes directly after ``Expand`` (as in SSD300/512).

    Args:
        mean: Fill value per channel, in the order of ``mean``'s colour space
            (RGB when ``to_rgb``). Cast to the image dtype with numpy's
            truncating cast, as mmdet does (123.675 -> 123 for uint8).
        to_rgb: If True, ``mean`` is RGB and is reversed to fill a BGR image.
        ratio_range: (min, max) of the canvas/image side ratio, min >= 1.
        seg_ignore_label: Fill of ``gt_seg_map``; required when that key is
            present.
        prob: Probability of expanding.
        lazy: Defer the canvas to :class:`MinIoURandomCrop` (see above).
    """

    def __init__(
        self,
        mean: Sequence[Number] = (0, 0, 0),
        to_rgb: bool = True,
        ratio_range: Sequence[Number] = (1, 4),
        seg_ignore_label: Optional[int] = None,
        prob: float = 0.5,
        lazy: bool = False,
    ) -> None:
        min_ratio, max_ratio = ratio_range
        if not 1 <= min_ratio <= max_ratio:
            raise ValueError(f'ratio_range must satisfy 1 <= min <= max, got {ratio_range}')
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.to_rgb = to_rgb
        self.ratio_range = ratio_range
        self.mean = tuple(mean[::-1]) if to_rgb else tuple(mean)
        self.min_ratio, self.max_ratio = min_ratio, max_ratio
        self.seg_ignore_label = seg_ignore_label
        self.prob = prob
        self.lazy = lazy

    @cache_randomness
    def _sample(self, h: int, w: int) -> Optional[Tuple[float, int, int]]:
        """Draw (ratio, left, top), or None for "no expand".

        The draws and their order match mmdet's Expand: U(0, 1) against
        ``prob``, then U(ratio_range), then the integer offsets
        ``int(U(0, W - w))`` and ``int(U(0, H - h))`` with W = w * ratio.
        """
        if random.uniform(0, 1) > self.prob:
            return None
        ratio = random.uniform(self.min_ratio, self.max_ratio)
        left = int(random.uniform(0, w * ratio - w))
        top = int(random.uniform(0, h * ratio - h))
        return ratio, left, top

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Expand ``results`` in place (or lazily) and return it.

        Args:
            results: Result dict, see the class docstring for keys.

        Returns:
            dict: ``results`` with the canvas applied.
        """
        if 'img' not in results:
            raise KeyError("Expand needs results['img']")
        check_not_lazy(results, 'Expand', ('img', 'gt_seg_map'))
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError(
                f"Expand needs results['img'] as an (H, W) or (H, W, C) np.ndarray, got "
                f'{type(img).__name__} {getattr(img, "shape", "")}'
            )
        check_box_and_mask_types(results, 'Expand', boxes_required=False)
        boxes, masks = results.get('gt_bboxes'), results.get('gt_masks')
        seg = results.get('gt_seg_map')
        if seg is not None and self.seg_ignore_label is None:
            raise ValueError(
                "results['gt_seg_map'] is present but Expand(seg_ignore_label=None); set "
                'seg_ignore_label to the value the new canvas area of the map gets'
            )

        h, w = img.shape[:2]
        sample = self._sample(h, w)
        if sample is None:
            return results
        ratio, left, top = sample
        canvas_h, canvas_w = int(h * ratio), int(w * ratio)
        fill = fill_value(self.mean, img)

        # SSD §2.2 "zoom out": the image at (left, top) of a mean-filled canvas.
        if self.lazy:
            results['img'] = LazyExpandedImage(img, fill, canvas_h, canvas_w, left, top)
        else:
            results['img'] = paste_on_canvas(img, fill, (canvas_h, canvas_w), left, top)
        results['img_shape'] = (canvas_h, canvas_w)
        # Boxes, masks and map move with the image.
        if boxes is not None:
            boxes.translate_([left, top])
        if masks is not None:
            results['gt_masks'] = expand_masks(masks, canvas_h, canvas_w, left, top)
        if seg is not None:
            seg_fill = fill_value(self.seg_ignore_label, seg, 'gt_seg_map')
            if self.lazy:
                results['gt_seg_map'] = LazyExpandedImage(
                    seg, seg_fill, canvas_h, canvas_w, left, top, key='gt_seg_map'
                )
            else:
                results['gt_seg_map'] = paste_on_canvas(
                    seg, seg_fill, (canvas_h, canvas_w), left, top
                )
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(mean={self.mean}, to_rgb={self.to_rgb}, '
            f'ratio_range={self.ratio_range}, seg_ignore_label={self.seg_ignore_label}, '
            f'prob={self.prob}, lazy={self.lazy})'
        )
