"""A lazily materialised "zoom out" canvas shared by Expand and MinIoURandomCrop,
and the checks of their inputs.

SSD §2.2 (Data augmentation, "zoom out") places the image on a canvas up to
16x its area and the next step ("zoom in", :class:`MinIoURandomCrop`) usually
keeps only a patch of it. ``Expand(lazy=True)`` therefore stores a
:class:`LazyExpandedImage` in ``results['img']`` (and ``results['gt_seg_map']``)
instead of allocating the canvas; :class:`MinIoURandomCrop` materialises only
the patch it keeps, via :meth:`LazyExpandedImage.crop`.

The object is deliberately *not* array-like: any other consumer (another
transform, ``np.asarray``, ``PackDetInputs``) fails with a :class:`LazyCanvasError`
that says how to fix the pipeline, instead of silently seeing the un-expanded
image.
"""

from typing import Any, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

__all__ = [
    'LazyCanvasError',
    'LazyExpandedImage',
    'check_box_and_mask_types',
    'check_not_lazy',
    'fill_value',
    'paste_on_canvas',
]

# dtypes cv2.copyMakeBorder handles (up to 4 channels); others use numpy.
_CV2_BORDER_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


class LazyCanvasError(TypeError):
    """Raised when a lazy Expand canvas reaches anything but MinIoURandomCrop."""


def fill_value(values: Union[float, np.ndarray], img: np.ndarray, key: str = 'img') -> np.ndarray:
    """Cast the canvas fill to ``img``'s dtype and channel count, as numpy would.

    The cast is numpy's unsafe cast (e.g. ``123.675 -> 123`` for uint8), the
    same as mmdet's ``np.full(..., mean, dtype=img.dtype)``.

    Args:
        values: Scalar or per-channel fill values, shape () or (C,).
        img: The image (HxW or HxWxC) the canvas is for.
        key: Result key of ``img``, used in error messages.

    Returns:
        np.ndarray: Shape () when one value fits every channel, else (C,),
        dtype ``img.dtype``.

    Raises:
        ValueError: If per-channel values differ and do not match the number
            of channels.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    channels = 1 if img.ndim == 2 else img.shape[2]
    if np.all(values == values[0]):
        return values[:1].astype(img.dtype).reshape(())
    if values.size != channels:
        raise ValueError(
            f'results[{key!r}] has {channels} channel(s) (shape {img.shape}) but the '
            f'fill has {values.size} different values {values.tolist()}; give one '
            'value per channel or a single value'
        )
    return values.astype(img.dtype)


def paste_on_canvas(
    src: np.ndarray,
    fill: np.ndarray,
    canvas_hw: Tuple[int, int],
    left: int,
    top: int,
    window: Optional[Tuple[int, int, int, int]] = None,
) -> np.ndarray:
    """Return the window of a ``fill`` canvas with ``src`` pasted at (left, top).

    Equivalent to ``canvas = full(canvas_hw, fill); canvas[top:top+h,
    left:left+w] = src; return canvas[y1:y2, x1:x2]`` but only the window is
    allocated and every output pixel is written once.

    Args:
        src: Image, shape (h, w) or (h, w, C), any dtype.
        fill: Fill value(s) from :func:`fill_value`, shape () or (C,).
        canvas_hw: (height, width) of the full canvas.
        left: Column of ``src``'s top-left corner on the canvas.
        top: Row of ``src``'s top-left corner on the canvas.
        window: (x1, y1, x2, y2) in canvas pixels, x2/y2 exclusive, clipped to
            the canvas. None means the whole canvas.

    Returns:
        np.ndarray: Shape (y2 - y1, x2 - x1) + src.shape[2:], dtype src.dtype,
        C-contiguous.
    """
    canvas_h, canvas_w = canvas_hw
    if window is None:
        window = (0, 0, canvas_w, canvas_h)
    x1, y1, x2, y2 = window
    x1, x2 = max(0, x1), min(canvas_w, x2)
    y1, y2 = max(0, y1), min(canvas_h, y2)
    out_h, out_w = max(0, y2 - y1), max(0, x2 - x1)
    h, w = src.shape[:2]
    # Overlap of the window with the pasted image, in canvas coordinates.
    ox1, oy1 = max(x1, left), max(y1, top)
    ox2, oy2 = min(x2, left + w), min(y2, top + h)
    out_shape = (out_h, out_w) + src.shape[2:]
    if ox2 <= ox1 or oy2 <= oy1:
        out = np.empty(out_shape, src.dtype)
        out[...] = fill
        return out
    part = src[oy1 - top : oy2 - top, ox1 - left : ox2 - left]
    pad = (oy1 - y1, y2 - oy2, ox1 - x1, x2 - ox2)  # top, bottom, left, right
    channels = 1 if src.ndim == 2 else src.shape[2]
    if channels <= 4 and src.dtype.type in _CV2_BORDER_DTYPES:
        # One pass: cv2 allocates the window, fills the border, copies the part.
        value = [float(v) for v in np.broadcast_to(fill, (channels,))] + [0.0] * (4 - channels)
        out = cv2.copyMakeBorder(part, *pad, cv2.BORDER_CONSTANT, value=value)
        return out.reshape(out_shape)
    out = np.empty(out_shape, src.dtype)
    top_pad, bottom_pad, left_pad, right_pad = pad
    out[:top_pad] = fill
    out[out_h - bottom_pad :] = fill
    out[top_pad : out_h - bottom_pad, :left_pad] = fill
    out[top_pad : out_h - bottom_pad, out_w - right_pad :] = fill
    out[top_pad : out_h - bottom_pad, left_pad : out_w - right_pad] = part
    return out


class LazyExpandedImage:
    """An Expand canvas that is not allocated until (a window of) it is needed.

    Stands for ``full((height, width) + src.shape[2:], fill)`` with ``src``
    pasted at ``(left, top)``.

    Args:
        src: The un-expanded image or map, shape (h, w) or (h, w, C).
        fill: Fill value(s), shape () or (C,), dtype ``src.dtype``.
        height: Canvas height in pixels (>= top + h).
        width: Canvas width in pixels (>= left + w).
        left: Column of ``src``'s top-left corner on the canvas.
        top: Row of ``src``'s top-left corner on the canvas.
        key: The results key this canvas is stored under (for messages).
    """

    __slots__ = ('src', 'fill', 'height', 'width', 'left', 'top', 'key')

    def __init__(
        self,
        src: np.ndarray,
        fill: np.ndarray,
        height: int,
        width: int,
        left: int,
        top: int,
        key: str = 'img',
    ) -> None:
        self.src = src
        self.fill = fill
        self.height = height
        self.width = width
        self.left = left
        self.top = top
        self.key = key

    @property
    def canvas_shape(self) -> Tuple[int, ...]:
        """Shape the materialised canvas would have: (H, W) + src.shape[2:]."""
        return (self.height, self.width) + self.src.shape[2:]

    def crop(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """Materialise the canvas window [y1:y2, x1:x2] (clipped to the canvas).

        Returns:
            np.ndarray: Shape (y2 - y1, x2 - x1) + src.shape[2:], src.dtype,
            identical to slicing the materialised canvas.
        """
        return paste_on_canvas(
            self.src,
            self.fill,
            (self.height, self.width),
            self.left,
            self.top,
            (int(x1), int(y1), int(x2), int(y2)),
        )

    def materialize(self) -> np.ndarray:
        """Allocate and return the whole canvas, shape :attr:`canvas_shape`."""
        return self.crop(0, 0, self.width, self.height)

    def _refuse(self, what: str) -> LazyCanvasError:
        return LazyCanvasError(
            f'results[{self.key!r}] holds a lazy Expand canvas ({what} was requested), '
            f'created by Expand(lazy=True); only MinIoURandomCrop can consume it. Put '
            f'MinIoURandomCrop directly after Expand, or use Expand(lazy=False).'
        )

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class does not define (``shape``,
        # ``dtype``, ``astype`` ...): a foreign consumer. Dunder probes
        # (``__deepcopy__``, ``__array_interface__``) get the usual
        # AttributeError so copy/pickle machinery keeps working.
        if name.startswith('__'):
            raise AttributeError(name)
        raise self._refuse(f'attribute {name!r}')

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise self._refuse('conversion to an array')

    def __getitem__(self, item: Any) -> Any:
        raise self._refuse('indexing')

    def __len__(self) -> int:
        raise self._refuse('len()')

    def __repr__(self) -> str:
        return (
            f'LazyExpandedImage(src_shape={self.src.shape}, dtype={self.src.dtype}, '
            f'canvas_shape={self.canvas_shape}, left={self.left}, top={self.top}, '
            f'fill={self.fill.tolist()})'
        )


def check_not_lazy(results: dict, transform: str, keys: Sequence[str] = ('img',)) -> None:
    """Raise a clear error if ``results[key]`` is a lazy Expand canvas.

    Args:
        results: Result dict.
        transform: Name of the calling transform, for the message.
        keys: Keys to check.

    Raises:
        LazyCanvasError: naming the key and the fix.
    """
    for key in keys:
        value = results.get(key)
        if isinstance(value, LazyExpandedImage):
            raise value._refuse(f'{transform} received it')


def check_box_and_mask_types(results: dict, transform: str, boxes_required: bool) -> None:
    """Raise a clear error unless the boxes and masks are of types the transform handles.

    Args:
        results: Result dict (after ``autocast_box_type``, which turns an
            ``(N, 4)`` array into ``HorizontalBoxes``).
        transform: Name of the calling transform, for the message.
        boxes_required: Whether ``results['gt_bboxes']`` may be None.

    Raises:
        TypeError: naming the key, the types accepted and the type found.
    """
    boxes = results.get('gt_bboxes')
    if (boxes is not None or boxes_required) and not isinstance(boxes, HorizontalBoxes):
        raise TypeError(
            f"{transform} supports results['gt_bboxes'] as HorizontalBoxes or an (N, 4) "
            f'np.ndarray, got {type(boxes).__name__}'
        )
    masks = results.get('gt_masks')
    if masks is not None and not isinstance(masks, (BitmapMasks, PolygonMasks)):
        raise TypeError(
            f"{transform} supports results['gt_masks'] as BitmapMasks or PolygonMasks, "
            f'got {type(masks).__name__}'
        )
