"""Default boxes of SSD (Liu et al., 2016, §2.2 "Choosing scales and aspect
ratios for default boxes").

Two ways to size the boxes:

* ``size_mode='paper'``: the paper's Eq. 4,
  ``s_k = s_min + (s_max - s_min)(k - 1)/(m - 1)`` for ``k = 1..m``, for any
  input size and number of levels.
* ``size_mode='published'`` (default): the convention of the published
  Caffe/mmdet models, where the range is worked in integer percent and the
  first level is special-cased. Its anchors equal mmdet's
  ``SSDAnchorGenerator`` element for element, so mmdet checkpoints load and
  predict identically. Explicit ``min_sizes``/``max_sizes`` (as SSDLite uses)
  are accepted in either mode, for any input size.

Grid placement, ``grid_priors`` and ``valid_flags`` come from mmdet's
``AnchorGenerator``, so mmdet heads and tools can use this generator.
"""

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from torch import Tensor

from ssd_plugin.registry import TASK_UTILS
from ssd_plugin.utils.strict_args import strict_init

# First level of the published models, in percent of the input size:
# (input_size, basesize_ratio_range[0]) -> (min %, max %).
_PUBLISHED_FIRST_LEVEL = {
    (300, 0.15): (7, 15),  # SSD300 COCO
    (300, 0.2): (10, 20),  # SSD300 VOC
    (512, 0.1): (4, 10),  # SSD512 COCO
    (512, 0.15): (7, 15),  # SSD512 VOC
}


def paper_scales(s_min: float, s_max: float, num_levels: int) -> List[float]:
    """Scales ``s_1..s_{m+1}`` of the paper's Eq. 4.

    ``s_{m+1}`` (used only for the extra square box of the last level,
    ``s'_m = sqrt(s_m * s_{m+1})``) extends the same linear rule by one step.

    Args:
        s_min: Scale of the lowest level, as a fraction of the input size.
        s_max: Scale of the highest level.
        num_levels: Number of feature maps ``m`` (at least 2).

    Returns:
        ``m + 1`` scales.
    """
    step = (s_max - s_min) / (num_levels - 1)
    return [s_min + step * k for k in range(num_levels + 1)]


def published_sizes(
    input_size: int, basesize_ratio_range: Tuple[float, float], num_levels: int
) -> Tuple[List[int], List[int]]:
    """Min and max sizes of the published SSD300/SSD512 models.

    The range is worked in integer percent with step
    ``floor((max - min) * 100 / (m - 2))`` over levels 2..m, and level 1 is
    taken from the table of the original Caffe models.

    Returns:
        ``(min_sizes, max_sizes)`` in pixels, one per level.

    Raises:
        ValueError: for an (input size, ratio) pair the published models never
            used; use ``size_mode='paper'`` or explicit sizes instead.
    """
    key = (input_size, round(basesize_ratio_range[0], 4))
    if key not in _PUBLISHED_FIRST_LEVEL:
        raise ValueError(
            f'SSDAnchorGenerator(size_mode="published") knows input_size 300 with '
            f'basesize_ratio_range[0] in (0.15, 0.2) and 512 with (0.1, 0.15); got '
            f'input_size={input_size}, basesize_ratio_range={tuple(basesize_ratio_range)}. '
            f'Use size_mode="paper" (Eq. 4 for any size) or pass min_sizes and max_sizes.'
        )
    if num_levels < 3:
        raise ValueError(f'size_mode="published" needs at least 3 levels, got {num_levels}')
    low, high = (int(r * 100) for r in basesize_ratio_range)
    step = int(math.floor(high - low) / (num_levels - 2))
    percents = list(range(low, high + 1, step))
    first_min, first_max = _PUBLISHED_FIRST_LEVEL[key]
    min_sizes = [int(input_size * first_min / 100)] + [int(input_size * p / 100) for p in percents]
    max_sizes = [int(input_size * first_max / 100)] + [
        int(input_size * (p + step) / 100) for p in percents
    ]
    return min_sizes, max_sizes


@TASK_UTILS.register_module()
@strict_init
class SSDAnchorGenerator(AnchorGenerator):
    """Default boxes of SSD, one set per feature-map level.

    At each location of level ``k`` the boxes are, in this order (the order of
    the published models, so that checkpoints are interchangeable):

    1. the square of side ``min_size_k`` (aspect ratio 1, scale ``s_k``);
    2. the extra square of side ``sqrt(min_size_k * max_size_k)``
       (scale ``s'_k = sqrt(s_k s_{k+1})``);
    3. for each ``r`` in ``ratios[k]``: the box with ``w/h = r`` then the box
       with ``w/h = 1/r``, both at ``min_size_k``, with
       ``w = s_k sqrt(a_r)`` and ``h = s_k / sqrt(a_r)``.

    ``ratios[k] = [2]`` gives 4 boxes per location, ``[2, 3]`` gives 6.
    Centres are at ``((i + 0.5) * step, (j + 0.5) * step)`` with
    ``step = strides[k]``; a stride of ``input_size / |f_k|`` gives exactly the
    paper's ``((i + 0.5)/|f_k|, (j + 0.5)/|f_k|)`` in normalised coordinates.

    Args:
        strides: Step between box centres on each level, in pixels (int,
            float or ``(w, h)`` pairs).
        ratios: Aspect ratios ``r > 0`` per level, besides 1; each adds
            ``r`` and ``1/r``.
        min_sizes: Explicit side of the ratio-1 box per level. Given together
            with ``max_sizes``, they override the scale rule (any input size).
        max_sizes: Explicit ``max_size_k`` per level (the extra square box
            has side ``sqrt(min_size_k * max_size_k)``).
        basesize_ratio_range: ``(s_min, s_max)`` as fractions of the input.
        input_size: Side of the square network input, in pixels.
        size_mode: ``'published'`` (Caffe/mmdet sizes, default) or
            ``'paper'`` (Eq. 4). Ignored when explicit sizes are given.
        scale_major: Kept for config compatibility with mmdet. Must be False:
            the box order above is the only one SSD checkpoints use.
        use_box_type: Return ``HorizontalBoxes`` instead of tensors.

    Raises:
        ValueError: naming the numbers, when the levels of ``strides``,
            ``ratios`` and the sizes disagree, or a size or ratio is invalid.
    """

    def __init__(
        self,
        strides: Sequence[Union[int, float, Tuple[float, float]]],
        ratios: Sequence[Sequence[float]],
        min_sizes: Optional[Sequence[float]] = None,
        max_sizes: Optional[Sequence[float]] = None,
        basesize_ratio_range: Tuple[float, float] = (0.15, 0.9),
        input_size: int = 300,
        size_mode: str = 'published',
        scale_major: bool = False,
        use_box_type: bool = False,
    ) -> None:
        if len(strides) != len(ratios):
            raise ValueError(
                f'SSDAnchorGenerator: {len(strides)} strides {list(strides)} but '
                f'{len(ratios)} ratio lists {list(ratios)}; give one of each per level'
            )
        if (min_sizes is None) != (max_sizes is None):
            raise ValueError('SSDAnchorGenerator: give both min_sizes and max_sizes, or neither')
        if scale_major:
            raise ValueError(
                'SSDAnchorGenerator: scale_major=True is not supported; SSD boxes are '
                'ordered [min square, extra square, ratios...] (scale_major=False)'
            )
        if size_mode not in ('published', 'paper'):
            raise ValueError(f'size_mode must be "published" or "paper", got {size_mode!r}')
        for level, level_ratios in enumerate(ratios):
            if any(r <= 0 for r in level_ratios):
                raise ValueError(f'ratios[{level}]={list(level_ratios)}: ratios must be > 0')

        num_levels = len(strides)
        if min_sizes is None:
            if size_mode == 'paper':
                s_min, s_max = basesize_ratio_range
                if not 0 < s_min < s_max or num_levels < 2:
                    raise ValueError(
                        f'size_mode="paper" needs 0 < s_min < s_max and at least 2 levels; '
                        f'got basesize_ratio_range={tuple(basesize_ratio_range)}, '
                        f'{num_levels} levels'
                    )
                scales = paper_scales(s_min, s_max, num_levels)
                min_sizes = [input_size * s for s in scales[:-1]]
                max_sizes = [input_size * s for s in scales[1:]]
            else:
                min_sizes, max_sizes = published_sizes(input_size, basesize_ratio_range, num_levels)
        if not len(min_sizes) == len(max_sizes) == num_levels:
            raise ValueError(
                f'SSDAnchorGenerator: {num_levels} levels (strides {list(strides)}) but '
                f'{len(min_sizes)} min_sizes {list(min_sizes)} and {len(max_sizes)} '
                f'max_sizes {list(max_sizes)}'
            )
        if any(s <= 0 for s in list(min_sizes) + list(max_sizes)):
            raise ValueError(f'sizes must be > 0: min {list(min_sizes)}, max {list(max_sizes)}')

        self.strides = [(s, s) if isinstance(s, (int, float)) else tuple(s) for s in strides]
        self.centers = [(sw / 2.0, sh / 2.0) for sw, sh in self.strides]
        self.input_size = input_size
        self.basesize_ratio_range = tuple(basesize_ratio_range)
        self.size_mode = size_mode
        self.min_sizes = list(min_sizes)
        self.max_sizes = list(max_sizes)
        self.base_sizes = self.min_sizes
        self.aspect_ratios = [list(r) for r in ratios]
        # In mmdet's convention a "ratio" is h/w: [1, 1/r, r] lists the square,
        # the wide box (w/h = r) and the tall box (w/h = 1/r).
        self.scales = [
            torch.Tensor([1.0, math.sqrt(mx / mn)]) for mn, mx in zip(min_sizes, max_sizes)
        ]
        self.ratios = [
            torch.Tensor([1.0] + [x for r in level for x in (1 / r, r)]) for level in ratios
        ]
        self.scale_major = False
        self.center_offset = 0
        self.octave_base_scale = None
        self.scales_per_octave = None
        self.use_box_type = use_box_type
        self.base_anchors = self.gen_base_anchors()

    def gen_base_anchors(self) -> List[Tensor]:
        """Boxes at the first location of every level.

        Returns:
            One ``(num_base_priors[k], 4)`` tensor per level, ``(x1, y1, x2, y2)``.
        """
        return [
            self._level_base_anchors(size, scales, ratios, center)
            for size, scales, ratios, center in zip(
                self.base_sizes, self.scales, self.ratios, self.centers
            )
        ]

    @staticmethod
    def _level_base_anchors(
        min_size: float, scales: Tensor, ratios: Tensor, center: Tuple[float, float]
    ) -> Tensor:
        """Boxes of one location: min square, extra square, then ratio boxes.

        Args:
            min_size: Side of the ratio-1 box (``s_k`` times the input size).
            scales: ``[1, sqrt(max_size / min_size)]``; the second one makes
                the extra box of side ``s'_k = sqrt(s_k s_{k+1})``.
            ratios: ``h/w`` ratios ``[1, 1/r1, r1, ...]``.
            center: Box centre ``(x, y)`` in pixels.

        Returns:
            ``(len(ratios) + 1, 4)`` boxes.
        """
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        # §2.2: w = s_k * sqrt(a_r), h = s_k / sqrt(a_r), for every ratio at scale s_k.
        ws = min_size * scales[0] * w_ratios
        hs = min_size * scales[0] * h_ratios
        # §2.2: one extra box of aspect ratio 1 at scale s'_k = sqrt(s_k s_{k+1}),
        # placed second, as in the published models.
        extra = min_size * scales[1:2] * w_ratios[:1]
        ws = torch.cat([ws[:1], extra, ws[1:]])
        hs = torch.cat([hs[:1], min_size * scales[1:2] * h_ratios[:1], hs[1:]])
        x_center, y_center = center
        return torch.stack(
            [x_center - 0.5 * ws, y_center - 0.5 * hs, x_center + 0.5 * ws, y_center + 0.5 * hs],
            dim=-1,
        )

    def check_featmap_sizes(
        self, featmap_sizes: Sequence[Tuple[int, int]], input_shape: Tuple[int, int]
    ) -> None:
        """Check that the feature maps match the levels and strides.

        Each level must tile the input: ``ceil(input / stride) == featmap``.

        Args:
            featmap_sizes: ``(h, w)`` of every level's feature map.
            input_shape: ``(h, w)`` of the network input (batch input shape).

        Raises:
            ValueError: naming the level, its stride, its size and the input.
        """
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(
                f'The backbone/neck produce {len(featmap_sizes)} feature maps '
                f'{[tuple(s) for s in featmap_sizes]} but the anchor generator has '
                f'{self.num_levels} levels (strides {self.strides}, ratios '
                f'{self.aspect_ratios}); make the head levels match the neck outputs'
            )
        for level, ((fh, fw), (sw, sh)) in enumerate(zip(featmap_sizes, self.strides)):
            want = (math.ceil(input_shape[0] / sh - 1e-6), math.ceil(input_shape[1] / sw - 1e-6))
            if (fh, fw) != want:
                raise ValueError(
                    f'Level {level}: feature map {fh}x{fw} but stride {sh}x{sw} on a '
                    f'{input_shape[0]}x{input_shape[1]} input needs {want[0]}x{want[1]}; '
                    f'fix `strides` in the anchor generator (or the input size)'
                )

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(strides={self.strides}, ratios={self.aspect_ratios}, '
            f'min_sizes={self.min_sizes}, max_sizes={self.max_sizes}, '
            f'size_mode={self.size_mode!r}, input_size={self.input_size}, '
            f'num_base_priors={self.num_base_priors})'
        )
