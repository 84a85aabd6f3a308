"""Load an image, failing clearly (or skipping) on empty, truncated or corrupt files."""

import io
import logging
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

from ssd_plugin.registry import TRANSFORMS
from ssd_plugin.utils.strict_args import strict_init

_JPEG_START = b'\xff\xd8'
_JPEG_END = b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'
_COLOR_FLAGS = ('color', 'color_ignore_orientation')
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class ImageLoadError(OSError):
    """An image file that cannot be read or decoded; the message names it."""


def looks_truncated(data: bytes) -> bool:
    """Whether JPEG or PNG bytes end before their end marker.

    A JPEG must end with EOI (``FF D9``) and a PNG with its ``IEND`` chunk.
    Files with bytes after the marker (some cameras append data) are
    confirmed with a full Pillow decode, which raises on a real truncation.
    Other formats are left to the decoder.
    """
    if data.startswith(_JPEG_START):
        if data.rstrip(b'\x00')[-2:] == _JPEG_END:
            return False
    elif data.startswith(_PNG_START):
        if data[-12:-4] == b'\x00\x00\x00\x00IEND':
            return False
    else:
        return False
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError, ... on bad data
        return True
    return False


def exif_orientation(data: bytes) -> int:
    """The EXIF Orientation tag of JPEG bytes (1, the stored pixels upright, when absent)."""
    if not data.startswith(_JPEG_START) or b'Exif' not in data[:65536]:
        return 1
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block: the pixels are what is stored
        return 1


def to_three_channel_uint8(img: np.ndarray) -> np.ndarray:
    """Grayscale, alpha and 16-bit images as ``(H, W, 3)`` uint8.

    Args:
        img: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``, uint8,
            uint16 (scaled to 8 bits by ``>> 8``) or float in [0, 255].

    Returns:
        ``(H, W, 3)`` uint8; the alpha channel is dropped.
    """
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[..., :3])
    if img.shape[2] != 3:
        raise ValueError(f'cannot make a 3-channel image of shape {img.shape}')
    return img


# Also registered as ``LoadImageFromFile`` in the plugin's scope: configs keep the
# standard step name that DetInferencer, sahi and mmdeploy look for, and in the
# plugin's scope (``default_scope='ssd_plugin'``, the plugin's configs and tools) that
# step is this loader. In another scope it is mmcv's (docs/robustness.md, bad images).
@TRANSFORMS.register_module(name=['LoadImageFromFile', 'SafeLoadImageFromFile'])
@strict_init
class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that names the file at fault, or skips it.

    Depending on the OpenCV build, mmcv's loader either decodes a truncated
    JPEG without a word (the missing part comes out grey) or fails with an
    ``AssertionError`` that does not say why; it cannot skip a corrupt file
    either (``ignore_empty`` only covers read errors). This one
    checks the bytes first and raises :class:`ImageLoadError` naming the path
    and the reason: missing, empty, truncated (no JPEG EOI / PNG IEND
    marker, confirmed by a full decode) or undecodable. With
    ``on_error='skip'`` it logs a warning and returns None instead; mmengine's
    ``BaseDataset`` then draws another image in training (in test mode it
    refuses a None, so keep ``'raise'`` for validation and test).

    **EXIF orientation**: the stored pixels are used, as they are (the rule
    of COCO files, whose ``width`` and ``height`` describe them, and of
    pycocotools): a JPEG's EXIF Orientation tag is not applied, with
    ``'color'`` as with ``'color_ignore_orientation'``, in training, test and
    inference alike. Each file with a tag other than 1 is named once in a
    warning. **Annotated size**: when the data info holds the annotation
    file's ``height`` and ``width`` (COCO datasets), the decoded image must
    have that size: a mismatch would put the boxes on the wrong pixels. It
    raises :class:`ImageLoadError` (or skips) naming the file and both sizes,
    and the EXIF tag when the annotated size is the rotated one.

    With a colour ``color_type`` (the default) every image comes out
    ``(H, W, 3)`` uint8 BGR: grayscale is repeated over 3 channels, an alpha
    channel is dropped and 16-bit values are scaled to 8 bits (``>> 8``), as
    OpenCV's colour decode does, whatever the decode backend.

    Required keys: ``img_path``.

    Added keys: ``img`` (``(H, W, 3)`` uint8, or float32 with
    ``to_float32``), ``img_shape``, ``ori_shape``.

    Args:
        to_float32: Return a float32 image.
        color_type: ``'color'`` (default), ``'grayscale'``, ``'unchanged'``...
            as mmcv's ``imfrombytes`` flag.
        imdecode_backend: ``'cv2'`` (default), ``'pillow'``, ``'turbojpeg'``...
        on_error: ``'raise'`` (default) or ``'skip'``.
        check_truncated: Check JPEG/PNG end markers before decoding.
        backend_args: mmengine file backend arguments.
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: str = 'color',
        imdecode_backend: str = 'cv2',
        on_error: str = 'raise',
        check_truncated: bool = True,
        backend_args: Optional[dict] = None,
    ) -> None:
        if on_error not in ('raise', 'skip'):
            raise ValueError(f'on_error must be "raise" or "skip", got {on_error!r}')
        super().__init__(
            to_float32=to_float32,
            color_type=color_type,
            imdecode_backend=imdecode_backend,
            ignore_empty=False,
            backend_args=backend_args,
        )
        self.on_error = on_error
        self.check_truncated = check_truncated
        self._oriented_named = set()  # files whose EXIF orientation was named

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``; None (skip) or raise on a bad file."""
        filename = results['img_path']
        try:
            img, orientation = self._load(filename)
            self._check_annotated_size(img, results, orientation)
        except ImageLoadError as err:
            if self.on_error == 'raise':
                raise
            print_log(f'{err}; skipped (on_error="skip")', logger='current', level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    @staticmethod
    def _check_annotated_size(img: np.ndarray, results: dict, orientation: int) -> None:
        """:class:`ImageLoadError` when the annotation file gave another size."""
        height, width = results.get('height'), results.get('width')
        if height is None or width is None or tuple(img.shape[:2]) == (int(height), int(width)):
            return
        got_h, got_w = img.shape[:2]
        msg = (
            f'{results["img_path"]}: the annotation file gives {int(width)}x{int(height)} '
            f'(width x height) but the image is {got_w}x{got_h}; its boxes would be placed on '
            'the wrong pixels. Fix width/height (and the boxes) in the annotation file'
        )
        if (got_h, got_w) == (int(width), int(height)) and orientation in _TRANSPOSED:
            msg += (
                f' (the annotated size is the image turned by its EXIF Orientation='
                f'{orientation}; the stored pixels are used, see '
                "docs/robustness.md: rotate the file's pixels or its boxes)"
            )
        raise ImageLoadError(msg)

    def _load(self, filename: str) -> Tuple[np.ndarray, int]:
        """Decoded image (stored pixels) and its EXIF orientation; :class:`ImageLoadError`
        naming ``filename`` and why."""
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise ImageLoadError(f'Image file not found: {filename}') from err
        except OSError as err:
            raise ImageLoadError(f'Cannot read image file {filename}: {err}') from err
        if len(data) == 0:
            raise ImageLoadError(f'Image file is empty (0 bytes): {filename}')
        if self.check_truncated and looks_truncated(data):
            raise ImageLoadError(
                f'Image file is truncated ({len(data)} bytes, no end marker): {filename}'
            )
        orientation = exif_orientation(data)
        if orientation != 1 and filename not in self._oriented_named:
            self._oriented_named.add(filename)
            print_log(
                f'{filename}: EXIF Orientation={orientation} not applied; the stored pixels are '
                "used, as the annotation file's width and height describe them",
                logger='current',
                level=logging.WARNING,
            )
        flag = 'color_ignore_orientation' if self.color_type == 'color' else self.color_type
        try:
            img = mmcv.imfrombytes(data, flag=flag, backend=self.imdecode_backend)
        except Exception as err:  # decoders raise many types on bad data
            raise ImageLoadError(f'Cannot decode image file {filename}: {err}') from err
        if img is None or img.size == 0:
            raise ImageLoadError(
                f'Cannot decode image file {filename} ({len(data)} bytes): not an image or corrupt'
            )
        if self.color_type in _COLOR_FLAGS:
            img = to_three_channel_uint8(img)
        return img, orientation

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(to_float32={self.to_float32}, '
            f'color_type={self.color_type!r}, imdecode_backend={self.imdecode_backend!r}, '
            f'on_error={self.on_error!r}, check_truncated={self.check_truncated}, '
            f'backend_args={self.backend_args})'
        )
