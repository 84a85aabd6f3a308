"""SSD "zoom in" augmentation: a random patch with a minimum IoU with the objects."""

from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import autocast_box_type
from numpy import random

from ssd_plugin.registry import TRANSFORMS
from ssd_plugin.utils.strict_args import strict_init

from ._lazy_canvas import LazyExpandedImage, check_box_and_mask_types


def patch_box_iou(patches: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of every patch with every box.

    Args:
        patches: (K, 4) x1, y1, x2, y2.
        boxes: (N, 4) x1, y1, x2, y2; degenerate or inverted boxes have area 0.

    Returns:
        np.ndarray: (K, N) float64 IoU in [0, 1] (NaN where a box is NaN).
    """
    patches = patches.astype(np.float64)[:, None, :]
    boxes = boxes.astype(np.float64)[None, :, :]
    inter_w = np.minimum(patches[..., 2], boxes[..., 2]) - np.maximum(
        patches[..., 0], boxes[..., 0]
    )
    inter_h = np.minimum(patches[..., 3], boxes[..., 3]) - np.maximum(
        patches[..., 1], boxes[..., 1]
    )
    inter = inter_w.clip(min=0) * inter_h.clip(min=0)
    area_p = (patches[..., 2] - patches[..., 0]) * (patches[..., 3] - patches[..., 1])
    area_b = (boxes[..., 2] - boxes[..., 0]).clip(min=0) * (boxes[..., 3] - boxes[..., 1]).clip(
        min=0
    )
    return inter / np.maximum(area_p + area_b - inter, 1e-6)


def centres_in_patch(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """Which boxes have their centre strictly inside ``patch``.

    Args:
        boxes: (N, 4) x1, y1, x2, y2.
        patch: (..., 4) x1, y1, x2, y2 (broadcast against the boxes).

    Returns:
        np.ndarray: bool, shape (..., N).
    """
    cx = (boxes[:, 0] + boxes[:, 2]) * 0.5
    cy = (boxes[:, 1] + boxes[:, 3]) * 0.5
    patch = np.asarray(patch)[..., None, :]
    return (cx > patch[..., 0]) & (cy > patch[..., 1]) & (cx < patch[..., 2]) & (cy < patch[..., 3])


@TRANSFORMS.register_module()
@strict_init
class MinIoURandomCrop(BaseTransform):
    """Random crop whose IoU with every object is at least a random threshold.

    SSD §2.2 Data augmentation ("zoom in"): each training image is used either
    as a whole, or as a patch whose minimum Jaccard overlap with the objects
    is 0.1, 0.3, 0.5, 0.7 or 0.9, or as a random patch. The patch side is in
    [``min_crop_size``, 1] of the image's, its aspect ratio (h/w) in [1/2, 2].
    Boxes whose centre lies in the patch are kept (shifted, and clipped when
    ``bbox_clip_border``); their labels, ignore flags and masks stay aligned.

    Drop-in for ``mmdet.MinIoURandomCrop`` (same arguments, keys and mode
    semantics: ``mode = choice((1, *min_ious, 0))``, 1 returns the input,
    0 accepts any patch that keeps an object centre; a mode whose patch
    trials all fail is re-drawn), with these differences:

    * **Bounded.** mmdet loops ``while True``. Here at most ``max_mode_draws``
      modes are drawn, each with ``max_patch_trials`` candidate patches
      (mmdet's 50); then the input is returned unchanged, which is also what
      mmdet ends up doing in such cases (it only leaves its loop through
      mode 1). So images with no box centre that any patch can hold
      (degenerate boxes on the border, 1-pixel images) cost a bounded time.
    * **Vectorised.** The candidates of one mode are drawn and tested at
      once; the first one that passes is taken, so the accepted patch has
      mmdet's distribution, though not mmdet's values for a given seed.
    * The offset is ``U(0, w - new_w)``. mmdet passes a single argument to
      ``uniform``, i.e. draws ``U(w - new_w, 1)``, so its patches almost
      never start at x = 0 or y = 0; we do not reproduce that one-pixel bias.
    * Degenerate/inverted boxes have IoU 0; NaN boxes fail every IoU test
      (mmdet's IoU test lets them through).
    * Accepts a lazy canvas from ``Expand(lazy=True)`` and materialises only
      the patch it keeps (the whole canvas if it keeps everything).

    As in mmdet, ``self.mode`` holds the mode of the last call once it
    returns: 1 when the input came back unchanged (also after giving up),
    else the minimum IoU of the patch taken (0 for "any patch").

    Random parameters depend on the boxes, so they are not cacheable with
    ``cache_random_params``.

    Required keys: ``img`` (np.ndarray (H, W) or (H, W, C), or a lazy canvas),
    ``gt_bboxes`` (:class:`HorizontalBoxes` or np.ndarray, (N, 4)).
    Optional keys: ``gt_bboxes_labels`` (N,), ``gt_ignore_flags`` (N,),
    ``gt_masks`` (:class:`BitmapMasks` / :class:`PolygonMasks`, cropped with
    their ``crop``), ``gt_seg_map`` ((H, W) array or lazy canvas).
    Modified keys: ``img``, ``img_shape`` and all of the optional ones.

    Args:
        min_ious: Minimum IoU thresholds to choose from.
        min_crop_size: Minimum patch side as a fraction of the image side.
        bbox_clip_border: Clip kept boxes to the patch.
        max_patch_trials: Candidate patches per drawn mode (mmdet: 50).
        max_mode_draws: Modes drawn before giving up and returning the input
            unchanged. With 50, giving up early (while some mode could still
            succeed) has probability below (6/7) ** 50 < 0.5%, and then only
            for images where almost no patch is valid.
    """

    def __init__(
        self,
        min_ious: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size: float = 0.3,
        bbox_clip_border: bool = True,
        max_patch_trials: int = 50,
        max_mode_draws: int = 50,
    ) -> None:
        if not 0 < min_crop_size <= 1:
            raise ValueError(f'min_crop_size must be in (0, 1], got {min_crop_size}')
        if max_patch_trials < 1 or max_mode_draws < 1:
            raise ValueError('max_patch_trials and max_mode_draws must be >= 1')
        self.min_ious = min_ious
        self.sample_mode = (1, *min_ious, 0)
        self.min_crop_size = min_crop_size
        self.bbox_clip_border = bbox_clip_border
        self.max_patch_trials = max_patch_trials
        self.max_mode_draws = max_mode_draws
        self.mode = 1  # mode of the last call, as mmdet's attribute

    def _random_mode(self) -> float:
        """Draw a mode: 1 (keep the image), a min IoU, or 0 (any patch)."""
        return random.choice(self.sample_mode)

    def _sample_patch(self, boxes: np.ndarray, h: int, w: int) -> Optional[np.ndarray]:
        """Draw a patch for an (h, w) image, or None to keep the whole image.

        Args:
            boxes: (N, 4) float ground-truth boxes (N may be 0).
            h: Image height.
            w: Image width.

        Returns:
            np.ndarray | None: (4,) int64 x1, y1, x2, y2 (x2/y2 exclusive).
        """
        n = self.max_patch_trials
        self.mode = 1
        for _ in range(self.max_mode_draws):
            min_iou = self._random_mode()
            if min_iou == 1:
                return None
            # SSD §2.2: patch sides in [min_crop_size, 1] of the image's ...
            new_w = random.uniform(self.min_crop_size * w, w, size=n)
            new_h = random.uniform(self.min_crop_size * h, h, size=n)
            left = random.uniform(0, w - new_w)
            top = random.uniform(0, h - new_h)
            patches = np.stack((left, top, left + new_w, top + new_h), axis=1).astype(np.int64)
            # ... aspect ratio in [1/2, 2]; no line or point patches.
            aspect = new_h / new_w
            ok = (aspect >= 0.5) & (aspect <= 2)
            ok &= (patches[:, 2] > patches[:, 0]) & (patches[:, 3] > patches[:, 1])
            if len(boxes):
                # SSD §2.2: minimum Jaccard overlap with every object ...
                ok &= patch_box_iou(patches, boxes).min(axis=1) >= min_iou
                # ... and at least one object centre in the patch (it is kept).
                ok &= centres_in_patch(boxes, patches).any(axis=1)
            accepted = np.flatnonzero(ok)
            if accepted.size:
                self.mode = min_iou
                return patches[accepted[0]]
        return None

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Crop ``results`` in place and return it.

        Args:
            results: Result dict, see the class docstring for keys.

        Returns:
            dict: ``results`` cropped (or unchanged, with any lazy canvas
            materialised).
        """
        if 'img' not in results:
            raise KeyError("MinIoURandomCrop needs results['img']")
        if 'gt_bboxes' not in results:
            raise KeyError("MinIoURandomCrop needs results['gt_bboxes'] (may be empty)")
        img = results['img']
        if isinstance(img, LazyExpandedImage):
            h, w = img.height, img.width
        elif isinstance(img, np.ndarray) and img.ndim in (2, 3):
            h, w = img.shape[:2]
        else:
            raise TypeError(
                "MinIoURandomCrop needs results['img'] as an (H, W) or (H, W, C) np.ndarray, "
                f'got {type(img).__name__}'
            )
        check_box_and_mask_types(results, 'MinIoURandomCrop', boxes_required=True)
        boxes = results['gt_bboxes']
        box_array = boxes.tensor.numpy()
        patch = self._sample_patch(box_array, h, w)
        if patch is None:
            # Whole image: materialise a lazy canvas, change nothing else.
            for key in ('img', 'gt_seg_map'):
                if isinstance(results.get(key), LazyExpandedImage):
                    results[key] = results[key].materialize()
            return results
        self._crop(results, patch, centres_in_patch(box_array, patch))
        return results

    def _crop(self, results: dict, patch: np.ndarray, keep: np.ndarray) -> None:
        """Apply ``patch`` (x1, y1, x2, y2) to every key; ``keep`` is (N,) bool."""
        x1, y1, x2, y2 = (int(v) for v in patch)
        if len(keep):
            # SSD §2.2: keep the ground truth whose centre is in the patch.
            boxes = results['gt_bboxes'][keep]
            boxes.translate_([-x1, -y1])
            if self.bbox_clip_border:
                boxes.clip_([y2 - y1, x2 - x1])
            results['gt_bboxes'] = boxes
            for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
                if results.get(key) is not None:
                    results[key] = results[key][keep]
        if results.get('gt_masks') is not None:
            # Also with no boxes, so the (empty) masks take the patch's size.
            results['gt_masks'] = results['gt_masks'][keep.nonzero()[0]].crop(patch)
        for key in ('img', 'gt_seg_map'):
            value = results.get(key)
            if isinstance(value, LazyExpandedImage):
                results[key] = value.crop(x1, y1, x2, y2)
            elif value is not None:
                results[key] = value[y1:y2, x1:x2]
        results['img_shape'] = results['img'].shape[:2]

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(min_ious={self.min_ious}, '
            f'min_crop_size={self.min_crop_size}, bbox_clip_border={self.bbox_clip_border}, '
            f'max_patch_trials={self.max_patch_trials}, max_mode_draws={self.max_mode_draws})'
        )
