"""What the tool reads from a config: the training boxes at the network input, the SSD
anchor generator and the assigner's thresholds.

Each dataset of ``train_dataloader`` (inside ``RepeatDataset`` or
``ConcatDataset``: :func:`train_datasets`) is built as the config's own class
with an empty pipeline, so its filters (``filter_cfg``, ``metainfo`` classes,
``SSDCocoDataset``'s invalid-box handling) apply; its boxes are then scaled as
the train pipeline's fixed ``Resize`` would scale them. Random augmentation
(``Expand``, ``MinIoURandomCrop``, flips) is left out: it changes where and
how large each object is from one epoch to the next, while the default boxes
are fitted to the objects themselves. Images are not opened.
"""

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ssd_plugin.apis.dataset_checks import cfg_get, dataset_problems, leaf_datasets

ANCHOR_KEY = 'model.bbox_head.anchor_generator'
FIXED_RESIZES = ('Resize', 'FixShapeResize')
_RANDOM_RESIZES = ('RandomResize', 'RandomChoiceResize', 'RandomChoice')
# steps that leave the boxes as they are, not noted as left out
_UNNOTED = ('LoadImageFromFile', 'SafeLoadImageFromFile', 'LoadAnnotations', 'PackDetInputs')


class DefaultBoxesError(Exception):
    """Unusable input (config, dataset, options); the message says what and how to fix it."""


@dataclass
class GroundTruth:
    """Ground-truth boxes at the network input.

    Attributes:
        boxes: ``(N, 4)`` float32 ``(x1, y1, x2, y2)`` in input pixels.
        input_shapes: ``(N, 2)`` int64 ``(h, w)`` of each box's network input
            (after ``Resize`` and padding to ``pad_size_divisor``).
        num_images: Images read (after the dataset's filters).
        num_ignored: Boxes with ``ignore_flag`` set, left out (the model
            ignores them too).
        sources: One line per dataset read: its class, annotation file and
            the resize applied.
    """

    boxes: np.ndarray
    input_shapes: np.ndarray
    num_images: int = 0
    num_ignored: int = 0
    sources: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.boxes)


def type_name(cfg: Any) -> str:
    """A config's ``type`` without its scope (``'mmdet.Resize'`` -> ``'Resize'``)."""
    return str(cfg_get(cfg, 'type', '')).rsplit('.', 1)[-1]


def anchor_generator_cfg(cfg: Any, config_path: str) -> Dict:
    """The SSD anchor generator config of ``cfg.model.bbox_head``.

    A ``_scope_`` on the model or head (stamped by ``mmdet::`` bases) is
    passed down, so that the generator is the class the model builds.

    Raises:
        DefaultBoxesError: when the model has no SSD anchor generator.
    """
    head = cfg_get(cfg_get(cfg, 'model'), 'bbox_head')
    gen = cfg_get(head, 'anchor_generator')
    gen_type = str(cfg_get(gen, 'type', ''))
    if type_name(gen) != 'SSDAnchorGenerator':
        found = f'{ANCHOR_KEY} is {gen_type!r}' if gen_type else f'the model has no {ANCHOR_KEY}'
        raise DefaultBoxesError(
            f'{config_path}: {found}. This tool measures and fits the default boxes of SSD '
            f"({ANCHOR_KEY}=dict(type='SSDAnchorGenerator', ...)); for other anchor "
            "generators (e.g. YOLO's) use mmdet's tools/analysis_tools/optimize_anchors.py."
        )
    out = copy.deepcopy(dict(gen))
    scope = head.get('_scope_', cfg.model.get('_scope_'))
    if scope is not None and '.' not in gen_type:
        out.setdefault('_scope_', scope)
    return out


def without_scope(gen_cfg: Dict) -> Dict:
    """An anchor generator config without the ``_scope_`` a base stamped on it."""
    return {k: v for k, v in gen_cfg.items() if k != '_scope_'}


def build_anchor_generator(gen_cfg: Dict, what: str = ANCHOR_KEY):
    """Build the generator through the plugin's registry (the model's path)."""
    from ssd_plugin.registry import TASK_UTILS

    try:
        return TASK_UTILS.build(copy.deepcopy(gen_cfg))
    except Exception as err:
        raise DefaultBoxesError(f'{what} does not build: {type(err).__name__}: {err}') from err


def assigner_thresholds(cfg: Any) -> Tuple[float, float, List[str]]:
    """``(pos_iou_thr, min_pos_iou, notes)`` of ``cfg.model.train_cfg.assigner``."""
    assigner = ((cfg.get('model') or {}).get('train_cfg') or {}).get('assigner') or {}
    notes = []
    thr = assigner.get('pos_iou_thr')
    if thr is None:
        thr = 0.5
        notes.append("model.train_cfg.assigner.pos_iou_thr is not set: using SSD's 0.5")
    return float(thr), float(assigner.get('min_pos_iou', 0.0)), notes


def check_train_data(cfg: Any, config_path: str) -> None:
    """The run checks' dataset test on the training set, images left out.

    Raises:
        DefaultBoxesError: naming each missing annotation file or root and
            how to get the data (``ssd_plugin.apis.dataset_checks.dataset_problems``).
    """
    problems, hints = dataset_problems(cfg, ['train_dataloader'], images=False)
    if problems:
        lines = [
            f'Cannot analyse the default boxes of {config_path}: the training annotations are '
            f'missing (relative paths are from {os.getcwd()}; images are not needed):'
        ]
        raise DefaultBoxesError('\n'.join(lines + [f'  - {p}' for p in problems] + hints))


def train_datasets(cfg: Any) -> Iterator[Tuple[str, Dict, Optional[Dict], List[str]]]:
    """``(key, copy of cfg, fixed Resize, left out)`` of every dataset of ``cfg.train_dataloader``.

    The datasets inside wrappers (the run checks' :func:`leaf_datasets` walk),
    each with the first fixed ``Resize`` of its train pipeline (None: the boxes
    stay at the image's size) and the steps that change boxes but are left out
    (random or photometric, and any later resize).

    Raises:
        DefaultBoxesError: no train dataloader, a leaf that is not a dataset
            config, or a random resize (the input size is not fixed).
    """
    loader = cfg.get('train_dataloader')
    if loader is None:
        raise DefaultBoxesError('the config has no train_dataloader.dataset to read boxes from')
    for key, leaf in leaf_datasets(loader.get('dataset'), 'train_dataloader.dataset'):
        if not hasattr(leaf, 'get'):
            raise DefaultBoxesError(f'{key} is not a dataset config: {leaf!r}')
        leaf_copy, resize, notes = copy.deepcopy(dict(leaf)), None, []
        for i, step in enumerate(leaf.get('pipeline') or []):
            name = type_name(step)
            if name in _RANDOM_RESIZES:
                raise DefaultBoxesError(
                    f'{key}.pipeline[{i}] is a {name}: the network input size changes from one '
                    'iteration to the next, so the default boxes have no single scale to be '
                    'measured at. Give a fixed size for the analysis, e.g. --cfg-options '
                    f"{key}.pipeline.{i}.type=Resize {key}.pipeline.{i}.scale='(W, H)'"
                )
            if name in FIXED_RESIZES and resize is not None:
                notes.append(f'{key}.pipeline[{i}] ({name}) ignored: only the first resize is used')
            elif name in FIXED_RESIZES:
                resize = dict(step)
            elif name not in _UNNOTED:
                notes.append(name)
        yield key, leaf_copy, resize, notes


def resize_target(resize: Dict) -> Optional[Tuple[Any, Any]]:
    """``(w, h)`` a ``Resize`` (``scale``) or ``FixShapeResize`` aims at; None without a scale."""
    if type_name(resize) == 'FixShapeResize':
        return resize['width'], resize['height']
    scale = resize.get('scale')
    if scale is None:
        return None
    return (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)


def _resized_shape(w: float, h: float, resize: Optional[Dict], key: str) -> Tuple[int, int]:
    """``(new_w, new_h)`` of an image after ``resize`` (mmdet's Resize/FixShapeResize rules)."""
    if resize is None:
        return int(round(w)), int(round(h))
    target = resize_target(resize)
    if target is None:
        factor = resize.get('scale_factor')
        if factor is None:
            raise DefaultBoxesError(
                f'{key}: the Resize has neither scale nor scale_factor: {resize}'
            )
        fx, fy = (factor, factor) if isinstance(factor, (int, float)) else tuple(factor)
        return int(w * fx + 0.5), int(h * fy + 0.5)
    if not resize.get('keep_ratio', False):
        return int(target[0]), int(target[1])
    from mmcv.image import rescale_size

    new_w, new_h = rescale_size((int(w), int(h)), tuple(int(v) for v in target))
    return int(new_w), int(new_h)


def pad_size_divisor(cfg: Any) -> int:
    """The data preprocessor's ``pad_size_divisor`` (1 when unset)."""
    preprocessor = (cfg.get('model') or {}).get('data_preprocessor') or {}
    return int(preprocessor.get('pad_size_divisor', 1) or 1)


def _dataset_boxes(
    data_list: List[Dict], resize: Optional[Dict], key: str, divisor: int
) -> Tuple[np.ndarray, np.ndarray, int]:
    """``(boxes (M, 4) float64, padded input shapes (M, 2), ignored)`` of a data list.

    Every box is scaled as its image by the ``Resize`` and clipped to the
    resized image (as ``Resize`` clips); the resize is computed once per image size.
    """
    instances = [info.get('instances') or [] for info in data_list]
    flat = [inst for insts in instances for inst in insts]
    bbox = np.array([inst['bbox'] for inst in flat], np.float64).reshape(-1, 4)
    keep = np.array([not inst.get('ignore_flag', 0) for inst in flat], bool)
    image = np.repeat(np.arange(len(data_list)), [len(insts) for insts in instances])[keep]
    sizes = np.array([(float(i['width']), float(i['height'])) for i in data_list]).reshape(-1, 2)
    pairs, which = np.unique(sizes, axis=0, return_inverse=True)
    factors, pads = np.zeros((len(pairs), 4)), np.zeros((len(pairs), 2), np.int64)
    bounds = np.zeros((len(pairs), 4))
    for i, (w, h) in enumerate(pairs.tolist()):
        new_w, new_h = _resized_shape(w, h, resize, key)
        factors[i], bounds[i] = [new_w / w, new_h / h] * 2, [new_w, new_h] * 2
        pads[i] = (math.ceil(new_h / divisor) * divisor, math.ceil(new_w / divisor) * divisor)
    pair = which.reshape(-1)[image]
    boxes = np.clip(bbox[keep] * factors[pair], 0, bounds[pair])
    return boxes, pads[pair], int((~keep).sum())


def load_train_boxes(cfg: Any) -> GroundTruth:
    """Ground-truth boxes of ``cfg.train_dataloader`` at the network input.

    Args:
        cfg: The full config (``mmengine.Config``).

    Returns:
        The boxes, one row per non-ignored instance of every leaf dataset
        (a ``RepeatDataset`` counts once).

    Raises:
        DefaultBoxesError: no train dataloader, a random resize, a dataset that
            cannot be read, or no box at all.
    """
    from mmengine.registry import DefaultScope

    from ssd_plugin.registry import DATASETS, SCOPE

    if DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('default_boxes', scope_name=SCOPE)
    divisor = pad_size_divisor(cfg)
    all_boxes, all_shapes = [np.zeros((0, 4))], [np.zeros((0, 2), np.int64)]
    num_images = num_ignored = 0
    sources = []
    for key, leaf, resize, _ in train_datasets(cfg):
        try:  # the leaf's own class: its annotations loaded and filtered, no pipeline
            dataset = DATASETS.build(dict(leaf, pipeline=[], serialize_data=False, lazy_init=False))
        except Exception as err:
            raise DefaultBoxesError(
                f'{key} ({leaf.get("type")}, ann_file {leaf.get("ann_file")!r}) could not be '
                f'read: {type(err).__name__}: {err}'
            ) from err
        boxes, shapes, ignored = _dataset_boxes(dataset.data_list, resize, key, divisor)
        num_images += len(dataset.data_list)
        num_ignored += ignored
        how = (
            f'resized as {type_name(resize)}'
            f'({", ".join(f"{k}={v}" for k, v in resize.items() if k != "type")})'
            if resize is not None
            else 'no Resize in the train pipeline: image size'
        )
        sources.append(
            f'{key}: {type(dataset).__name__} {getattr(dataset, "ann_file", "")!s}: '
            f'{len(dataset.data_list)} images, {len(boxes)} boxes; {how}'
        )
        all_boxes.append(boxes)
        all_shapes.append(shapes)
    boxes = np.concatenate(all_boxes).astype(np.float32)
    shapes = np.concatenate(all_shapes)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not valid.all():
        sources.append(f'{int((~valid).sum())} boxes of zero size at the input left out')
    boxes, shapes = boxes[valid], shapes[valid]
    if len(boxes) == 0:
        raise DefaultBoxesError(
            'the training set has no ground-truth box to analyse ('
            + '; '.join(sources)
            + f'; {num_ignored} ignored). Check ann_file, the classes in metainfo '
            '(instances of other classes are dropped) and filter_cfg.'
        )
    return GroundTruth(boxes, np.ascontiguousarray(shapes), num_images, num_ignored, sources)
