"""SSD photometric distortions (brightness, contrast, saturation, hue, channel swap)."""

from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from numpy import random

from ssd_plugin.registry import TRANSFORMS
from ssd_plugin.utils.strict_args import strict_init

from ._lazy_canvas import check_not_lazy

Number = Union[int, float]


def _brightness_contrast_lut(b_flag: int, delta: float, c_flag: int, alpha: float) -> np.ndarray:
    """(256,) float32 table of ``clip(clip(v + delta) * alpha)``, steps as flagged.

    Same float32 operations, in the same order, as applying them per pixel.
    """
    lut = np.arange(256, dtype=np.float32)
    if b_flag:
        lut += delta
        np.clip(lut, 0, 255, out=lut)
    if c_flag:
        lut *= alpha
        np.clip(lut, 0, 255, out=lut)
    return lut


@TRANSFORMS.register_module()
@strict_init
class PhotoMetricDistortion(BaseTransform):
    """Random brightness, contrast, saturation, hue and channel order.

    SSD §2.2 Data augmentation ("photo-metric distortions similar to [Howard
    2013]"). In this order, each step applied with probability 0.5:

    1. brightness: ``v + U(-brightness_delta, brightness_delta)``;
    2. contrast ``v * U(contrast_range)`` here, or at step 6 (coin flip);
    3. BGR -> HSV;
    4. saturation: ``S * U(saturation_range)``, S clipped to [0, 1];
    5. hue: ``H + U(-hue_delta, hue_delta)`` degrees, wrapped to [0, 360];
    6. HSV -> BGR (then contrast, if not done at step 2);
    7. random permutation of the channels (``random_channel_swap``).

    Arguments, random draws (numpy's global generator, same order) and their
    meaning are mmdet's ``PhotoMetricDistortion``; the same seed draws the same
    parameters. The arithmetic depends on the input dtype:

    * **uint8 image -> uint8 image, saturated after every step** (the Caffe
      SSD behaviour, which distorts 8-bit images): mmdet's float32 arithmetic
      with a clip to [0, 255] after brightness, after contrast and after
      HSV -> BGR, rounded once at the end (OpenCV's round half to even).
      Brightness and contrast run through one 256-entry lookup table (float32
      when an HSV step follows, else uint8), saturation and hue through
      OpenCV's float HSV conversion, the final contrast and the rounding
      through one ``convertScaleAbs``. Where mmdet's values stay in [0, 255]
      ours is mmdet's output rounded to the nearest integer (|diff| <= 0.5,
      tested); where mmdet's float pipeline leaves [0, 255], ours saturates
      first, so e.g. ``(250 + 30) * 0.5`` gives 128 (``255 * 0.5`` rounded
      half to even; mmdet: 140.0). mmdet's output is float32 and unclipped
      (e.g. ``(0 - 32) * 1.5 = -48`` or ``(255 + 32) * 1.5 = 430.5``); the
      model's ``DetDataPreprocessor`` casts to float either way, and uint8
      batches are 4x smaller. The HSV round trip and the channel swap are
      skipped when they are identities (no saturation or hue draw; the
      identity permutation).
    * **any other dtype -> float32, mmdet's arithmetic value for value**
      (unclipped): ``img.astype(float32)``, in-place add/multiply, OpenCV float
      HSV. The only shortcut: the HSV round trip is skipped when neither
      saturation nor hue was drawn and no value is negative (OpenCV's float
      round trip is an identity there up to float32 rounding, |diff| < 1e-3;
      for negative values it is not, so it is kept).

    Grayscale images ((H, W) or (H, W, 1)) get brightness and contrast only,
    with the same draws: exactly what each channel of the same image stacked
    to BGR gets, since a gray pixel has saturation 0 and hue has no effect.
    The shape is kept.

    Required keys: ``img`` (np.ndarray (H, W), (H, W, 1) or (H, W, 3) BGR).
    Modified keys: ``img`` (uint8 for uint8 input, else float32).

    Args:
        brightness_delta: Half-width of the uniform brightness offset.
        contrast_range: (low, high) of the contrast factor.
        saturation_range: (low, high) of the saturation factor.
        hue_delta: Half-width of the uniform hue offset, in degrees.
        random_channel_swap: Permute the channels with probability 0.5, as
            mmdet does. The Caffe SSD recipe disables it
            (``random_order_prob: 0``); False keeps the draws but never swaps.

    Raises:
        ValueError: From :meth:`transform`, for images with 2 or 4+ channels
            (load with ``color_type='color'``, as mmdet's loaders do).
    """

    def __init__(
        self,
        brightness_delta: int = 32,
        contrast_range: Sequence[Number] = (0.5, 1.5),
        saturation_range: Sequence[Number] = (0.5, 1.5),
        hue_delta: int = 18,
        random_channel_swap: bool = True,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta
        self.random_channel_swap = random_channel_swap

    @cache_randomness
    def _random_flags(self) -> Tuple:
        """Draw every parameter, in mmdet's order, whether used or not.

        Returns:
            tuple: (mode, brightness_flag, contrast_flag, saturation_flag,
            hue_flag, swap_flag, delta, alpha, saturation, hue, permutation).
            mode 1 puts contrast before the HSV step, 0 after it.
        """
        mode = random.randint(2)
        brightness_flag = random.randint(2)
        contrast_flag = random.randint(2)
        saturation_flag = random.randint(2)
        hue_flag = random.randint(2)
        swap_flag = random.randint(2)
        delta = random.uniform(-self.brightness_delta, self.brightness_delta)
        alpha = random.uniform(self.contrast_lower, self.contrast_upper)
        saturation = random.uniform(self.saturation_lower, self.saturation_upper)
        hue = random.uniform(-self.hue_delta, self.hue_delta)
        permutation = random.permutation(3)
        return (
            mode, brightness_flag, contrast_flag, saturation_flag, hue_flag, swap_flag,
            delta, alpha, saturation, hue, permutation,
        )  # fmt: skip

    def transform(self, results: dict) -> dict:
        """Distort ``results['img']`` and return ``results``.

        Args:
            results: Result dict with ``img``.

        Returns:
            dict: ``results`` with the distorted ``img``.
        """
        if 'img' not in results:
            raise KeyError("PhotoMetricDistortion needs results['img']")
        check_not_lazy(results, 'PhotoMetricDistortion')
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError(
                "PhotoMetricDistortion needs results['img'] as an (H, W) or (H, W, C) "
                f'np.ndarray, got {type(img).__name__}'
            )
        channels = 1 if img.ndim == 2 else img.shape[2]
        if channels not in (1, 3):
            raise ValueError(
                f"PhotoMetricDistortion needs results['img'] with 1 (gray) or 3 (BGR) "
                f'channels, got shape {img.shape}; load images with color_type="color" '
                '(drops alpha) or convert them before this transform'
            )
        params = self._random_flags()
        if img.dtype == np.uint8:
            out = self._distort_uint8(img, channels == 3, params)
        else:
            out = self._distort_float(img, channels == 3, params)
        results['img'] = out.reshape(img.shape)
        return results

    def _distort_uint8(self, img: np.ndarray, colour: bool, params: Tuple) -> np.ndarray:
        """Saturating uint8 path, see the class docstring. Returns uint8."""
        mode, b_flag, c_flag, s_flag, h_flag, swap_flag, delta, alpha, sat, hue, perm = params
        hsv_step = bool(s_flag or h_flag)
        # Contrast goes before the HSV step in mode 1; without an HSV step both
        # positions are the same.
        contrast_first = bool(c_flag) and (mode == 1 or not hsv_step)
        if hsv_step:
            # float32 route (also for gray images, so that a gray image gets
            # exactly what each channel of its BGR copy gets).
            if b_flag or contrast_first:
                # SSD §2.2: brightness, then contrast (mode 1), each saturated;
                # a float32 table gives the same values as the per-pixel ops.
                out = cv2.LUT(img, _brightness_contrast_lut(b_flag, delta, contrast_first, alpha))
            else:
                out = img.astype(np.float32)
            # SSD §2.2: saturation and hue in HSV (OpenCV float: H in degrees, S in [0, 1]).
            if colour:
                hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
                self._saturation_hue(hsv, s_flag, h_flag, sat, hue)
                out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
            # SSD §2.2: contrast after the HSV step (mode 0). Values are >= 0, so
            # convertScaleAbs is saturate(round_half_even(v * alpha)).
            img = cv2.convertScaleAbs(out, alpha=alpha if c_flag and not contrast_first else 1.0)
        elif b_flag or c_flag:
            # SSD §2.2: brightness and contrast are adjacent, so both go through
            # one saturating uint8 table, rounded once.
            lut = _brightness_contrast_lut(b_flag, delta, c_flag, alpha)
            img = cv2.LUT(img, cv2.convertScaleAbs(lut))

        # Random channel order (mmdet; disabled in the Caffe SSD recipe).
        if swap_flag and self.random_channel_swap and colour:
            img = self._swap(img, perm)
        return img

    def _distort_float(self, img: np.ndarray, colour: bool, params: Tuple) -> np.ndarray:
        """mmdet's float32 path (unclipped), see the class docstring."""
        mode, b_flag, c_flag, s_flag, h_flag, swap_flag, delta, alpha, sat, hue, perm = params
        img = img.astype(np.float32)  # always a copy, as in mmdet
        # SSD §2.2: brightness.
        if b_flag:
            img += delta
        # SSD §2.2: contrast before the HSV step (mode 1).
        if mode == 1 and c_flag:
            img *= alpha
        if colour and (s_flag or h_flag or img.min() < 0):
            # SSD §2.2: saturation and hue in HSV.
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            self._saturation_hue(hsv, s_flag, h_flag, sat, hue)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        # SSD §2.2: contrast after the HSV step (mode 0).
        if mode == 0 and c_flag:
            img *= alpha
        if swap_flag and self.random_channel_swap and colour:
            img = self._swap(img, perm)
        return img

    @staticmethod
    def _saturation_hue(hsv: np.ndarray, s_flag: int, h_flag: int, sat: float, hue: float) -> None:
        """Scale S and shift H of a float32 OpenCV HSV image (H, W, 3) in place."""
        if s_flag:
            s = hsv[..., 1]
            s *= sat
            if sat > 1:  # float HSV saturation lives in [0, 1]
                np.minimum(s, 1, out=s)
        if h_flag:
            h = hsv[..., 0]
            h += hue
            # Wrap to [0, 360]; with |hue| < 360 only one side can overflow.
            if hue > 0:
                np.subtract(h, 360, out=h, where=h > 360)
            elif hue < 0:
                np.add(h, 360, out=h, where=h < 0)

    @staticmethod
    def _swap(img: np.ndarray, perm: np.ndarray) -> np.ndarray:
        """Return ``img[..., perm]`` (C-contiguous), cheaply for the easy cases."""
        order = tuple(int(i) for i in perm)
        if order == (0, 1, 2):
            return img
        if order == (2, 1, 0):
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return img[..., perm]

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(brightness_delta={self.brightness_delta}, '
            f'contrast_range={(self.contrast_lower, self.contrast_upper)}, '
            f'saturation_range={(self.saturation_lower, self.saturation_upper)}, '
            f'hue_delta={self.hue_delta}, random_channel_swap={self.random_channel_swap})'
        )
