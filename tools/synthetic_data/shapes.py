"""Drawing of the synthetic shapes: textured backgrounds, six shape classes,
occlusion-aware placement and boxes of the visible pixels (see
:mod:`synthetic_data.generator`)."""

import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .classes import SYNTHETIC_CLASSES

__all__ = ['MEDIUM_MAX_SIDE', 'SMALL_MAX_SIDE', 'draw_image', 'visible_boxes']

SMALL_MAX_SIDE = 32.0  # COCO: small if area < 32 ** 2
MEDIUM_MAX_SIDE = 96.0  # COCO: medium if area < 96 ** 2, large above


Polygon = np.ndarray  # (N, 2) float64, COCO pixel-edge coordinates
Part = Tuple[Polygon, int]  # polygon and fill value (1: shape, 0: hole)


_THETA = np.linspace(0, 2 * np.pi, 48, endpoint=False)
_CIRCLE = np.stack([np.cos(_THETA), np.sin(_THETA)], axis=1)  # (48, 2), read only
_CIRCLE.flags.writeable = False
# the fixed outlines and star directions, built once (read only) and not per shape
_SQUARE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
_STAR_ANGLES = -np.pi / 2 + np.arange(10) * np.pi / 5
_STAR_COS, _STAR_SIN = np.cos(_STAR_ANGLES), np.sin(_STAR_ANGLES)
_STAR_TIPS = np.arange(10) % 2 == 0
for _array in (_SQUARE, _STAR_COS, _STAR_SIN, _STAR_TIPS):
    _array.flags.writeable = False


def _unit_shape(label: int, rng: np.random.Generator) -> List[Part]:
    """Outline of a class, centred at 0 with radius about 1."""
    name = SYNTHETIC_CLASSES[label]
    circle = _CIRCLE
    if name == 'ellipse':
        return [(circle, 1)]
    if name == 'ring':
        return [(circle, 1), (circle * rng.uniform(0.45, 0.62), 0)]
    if name == 'rectangle':
        return [(_SQUARE, 1)]
    if name == 'triangle':
        apex = rng.uniform(-1.0, 1.0)
        return [(np.array([[-1, 1], [1, 1], [apex, -1]], dtype=np.float64), 1)]
    if name == 'star':
        radii = np.where(_STAR_TIPS, 1.0, rng.uniform(0.38, 0.5))
        return [(np.stack([_STAR_COS * radii, _STAR_SIN * radii], axis=1), 1)]
    # cross: a plus sign with arms of half-thickness t.
    t = rng.uniform(0.25, 0.38)
    flat = [-t, -1, t, -1, t, -t, 1, -t, 1, t, t, t, t, 1, -t, 1, -t, t, -1, t, -1, -t, -t, -t]
    return [(np.array(flat, dtype=np.float64).reshape(-1, 2), 1)]


def _sample_side(
    rng: np.random.Generator, img_size: int, bucket: int, min_side: Optional[float] = None
) -> float:
    """Side (sqrt of bbox area) of a new object in COCO area range ``bucket``: 0 small
    (side < 32, at least ``min_side``, by default ``max(10, 0.06 * img_size)``),
    1 medium (< 96), 2 large (up to 0.8 of the image)."""
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
    stretch = np.array([math.sqrt(aspect), 1 / math.sqrt(aspect)])
    parts = [(poly * stretch, fill) for poly, fill in parts]
    if angle:  # at 0 the rotation would give back the same numbers (times 1, plus 0)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        parts = [(poly @ rot.T, fill) for poly, fill in parts]
    outer_max, outer_min = parts[0][0].max(axis=0), parts[0][0].min(axis=0)
    extent = outer_max - outer_min
    # the fit test on Python floats (the same float64 products): numpy's scalar
    # operations cost more than the arithmetic
    width, height = extent.tolist()
    scale = _sample_side(rng, img_size, bucket, min_side) / math.sqrt(width * height)
    fit = (width * scale, height * scale)
    if max(fit) > img_size - 4 or min(fit) < 4:
        return None
    size = extent * scale
    centre_off = (outer_max + outer_min) / 2 * scale
    low = size / 2 + 1
    centre = rng.uniform(low, img_size - low) - centre_off
    return [(poly * scale + centre, fill) for poly, fill in parts]


def _render_alpha(
    parts: Sequence[Part], img_size: int
) -> Tuple[Optional[Tuple[slice, slice]], np.ndarray]:
    """Anti-aliased coverage (float32 in [0, 1]) of a shape, inside its bounding window.

    Returns:
        ``(window, alpha)``: the ``(rows, cols)`` slices of the pixels the shape
        touches (None when it touches none) and the coverage there; it is 0
        everywhere else, so the drawing works on the window only.
    """
    mask = np.zeros((img_size, img_size), np.uint8)
    for poly, fill in parts:
        # cv2 fills pixel (i, j) around its centre; COCO's pixel i spans [i, i+1).
        pts = np.round((poly - 0.5) * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255 * fill, lineType=cv2.LINE_AA, shift=4)
    # the box of the non-zero pixels in one call (np.any and np.flatnonzero per axis
    # took four)
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return None, np.zeros((0, 0), np.float32)
    window = (slice(y, y + h), slice(x, x + w))
    return window, mask[window].astype(np.float32) / 255.0


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(90, 255), rng.uniform(90, 255)]]])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _ramp(
    rng: np.random.Generator, img_size: int, window: Optional[Tuple[slice, slice]] = None
) -> np.ndarray:
    """Projection of pixel positions on a random direction, in [0, 1] over the image.

    Args:
        window: ``(rows, cols)`` slices: only those pixels are returned (the
            same values as in the whole ramp: the projection is linear, so its
            extremes are at the image's corners).
    """
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = window or (slice(0, img_size), slice(0, img_size))
    # A column of row numbers and a row of column numbers: broadcast, they give the
    # same float32 sums as the full grids of np.mgrid, without building them.
    yy = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
    xx = np.arange(cols.start, cols.stop, dtype=np.float32)
    proj = xx * math.cos(angle) + yy * math.sin(angle)
    ends = np.array([0, img_size - 1], np.float32)
    corners = ends[None, :] * math.cos(angle) + ends[:, None] * math.sin(angle)
    return (proj - corners.min()) / max(float(corners.max() - corners.min()), 1e-6)


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
        # one channel at a time, stacked: the same float32 products and sums as
        # broadcasting t[..., None] against the colours, ten times faster (numpy's
        # loops over a last axis of 3 are slow)
        img = np.stack([c0[k] * (1 - t) + c1[k] * t for k in range(3)], axis=-1)
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


def visible_boxes(
    owner: np.ndarray,
    num_objects: int,
    windows: Optional[Sequence[Tuple[slice, slice]]] = None,
) -> np.ndarray:
    """Tight boxes of each object's visible pixels.

    Args:
        owner: ``(H, W)`` index of the object seen at each pixel, -1 for
            background.
        num_objects: Number of objects; each must own at least one pixel.
        windows: ``(rows, cols)`` slices (from 0, step 1) that hold all the
            pixels of each object, to search there only; None: the whole image.

    Returns:
        ``(num_objects, 4)`` float64 ``[x1, y1, x2, y2]`` in COCO pixel-edge
        coordinates: pixel ``(row i, col j)`` spans ``[j, j + 1) x [i, i + 1)``.
    """
    boxes = np.zeros((num_objects, 4), np.float64)
    for j in range(num_objects):
        y0, x0 = 0, 0
        window = owner
        if windows is not None:
            window = owner[windows[j]]
            y0, x0 = windows[j][0].start, windows[j][1].start
        # the box of the object's pixels, in one call
        x, y, w, h = cv2.boundingRect((window == j).view(np.uint8))
        if w == 0:
            raise ValueError(f'object {j} has no visible pixel')
        boxes[j] = x0 + x, y0 + y, x0 + x + w, y0 + y + h
    return boxes


def draw_image(
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
    windows: List[Tuple[slice, slice]] = []
    # what each earlier shape shows now: counted as the shapes cover each other, not
    # recounted from ``owner`` for every new shape
    visible = np.zeros(0, np.int64)
    # Each shape is drawn inside its window (the pixels it touches): outside it the
    # blend would leave the canvas as it is.
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        label = int(rng.integers(num_classes))
        bucket = int(rng.choice(3, p=size_mix))  # once per object: retries keep the range
        floor = min_visible * np.asarray(areas, np.float64)  # the least each must keep
        for _attempt in range(30):
            parts = _place_shape(
                label % len(SYNTHETIC_CLASSES), rng, img_size, bucket, rotate, min_side
            )
            if parts is None:
                continue
            window, alpha = _render_alpha(parts, img_size)
            hard = alpha > 0.5
            if not hard.any():
                continue
            below = owner[window]
            hidden = np.bincount(below[hard & (below >= 0)], minlength=len(areas))
            if (visible - hidden >= floor).all():
                break
        else:
            continue  # no placement keeps the earlier shapes visible: drop this one
        under = canvas[window]
        colour = _pick_colour(rng, under, hard)
        shade = 1 + rng.uniform(-0.25, 0.25) * (2 * _ramp(rng, img_size, window) - 1)
        paint = np.clip(colour * shade[..., None], 0, 255)
        canvas[window] = under * (1 - alpha[..., None]) + paint * alpha[..., None]
        owner[window][hard] = len(areas)
        areas.append(int(hard.sum()))
        visible = np.append(visible - hidden, areas[-1])
        labels.append(label)
        windows.append(window)
    canvas += rng.normal(0, rng.uniform(2, 7), canvas.shape).astype(np.float32)
    if rng.random() < 0.3:
        canvas = cv2.GaussianBlur(canvas, (3, 3), 0.6)
    # Placements keep every object >= min_visible visible, so each owns pixels.
    objects = list(zip(labels, visible_boxes(owner, len(labels), windows)))
    np.round(canvas, out=canvas)  # in place: the same values, no temporary images
    return np.clip(canvas, 0, 255, out=canvas).astype(np.uint8), objects
