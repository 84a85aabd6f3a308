"""The same config at another input size, as ``--input-sizes`` analyses it.

At input side ``S`` instead of the configured ``S0`` (the longer side of the
train pipeline's fixed ``Resize``), every ``Resize`` of the train, val and test
pipelines scales by ``f = S / S0``, and so do the default boxes
(``min_sizes`` and ``max_sizes``): a fit at ``S`` starts from the configured
boxes as they would look on the larger images. The strides follow the
feature maps of a dummy forward at ``S``: a level keeps its stride where
``ceil(S / stride)`` still gives its feature map (the backbone's own
downsampling), and takes ``S / featmap`` otherwise (the coarse levels of
SSDLite: 107 at 320, 128 at 384). The compute is the model's FLOPs at that
size from mmengine's ``get_model_complexity_info`` (backbone, neck and head
convolutions: ``model._forward``).
"""

import copy
import math
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import nn

from ssd_plugin.apis.dataset_checks import cfg_get, leaf_datasets

from .coverage import grid_sizes
from .errors import DefaultBoxesError
from .fit import stock_settings
from .ground_truth import (
    FIXED_RESIZES,
    pad_size_divisor,
    resize_target,
    train_datasets,
    type_name,
)
from .report import cfg_literal

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def configured_input(cfg: Any) -> Tuple[int, int]:
    """``(w, h)`` of the train pipeline's fixed ``Resize`` (its first leaf dataset).

    Raises:
        DefaultBoxesError: when there is none with a fixed ``scale``.
    """
    for _, _, resize, _ in train_datasets(cfg):
        target = resize_target(resize) if resize is not None else None
        if target is not None:
            return int(target[0]), int(target[1])
        break
    raise DefaultBoxesError(
        '--input-sizes needs a fixed Resize with a scale in the train pipeline (the input '
        'size to scale from); this config has none'
    )


def scaled_resizes(cfg: Any, f: float) -> Dict[str, Any]:
    """``{--cfg-options key: value}`` that scale every fixed resize of the dataloaders'
    pipelines by ``f`` (the datasets inside wrappers too: :func:`leaf_datasets`)."""
    changes = {}
    for name in LOADERS:
        for key, leaf in leaf_datasets(cfg_get(cfg.get(name), 'dataset'), f'{name}.dataset'):
            for j, step in enumerate(cfg_get(leaf, 'pipeline') or []):
                kind = type_name(step)
                target = resize_target(step) if kind in FIXED_RESIZES else None
                if target is None:
                    continue
                w, h = round(target[0] * f), round(target[1] * f)
                new = dict(width=w, height=h) if kind == 'FixShapeResize' else dict(scale=(w, h))
                changes.update({f'{key}.pipeline.{j}.{k}': v for k, v in new.items()})
    return changes


def strides_for(
    strides: Sequence[Tuple[float, float]], featmaps: Sequence[Tuple[int, int]], h: int, w: int
) -> List:
    """Strides at an ``h x w`` input whose levels have ``featmaps`` ``(fh, fw)``.

    A stride is kept where ``ceil(input / stride)`` is the feature map, else
    ``input / featmap``, rounded (or rounded up) to an integer or to 0.01,
    the first that still gives the feature map (SSDLite's 320 / 3: 107;
    640 / 3: 214). One number per level when both axes agree.
    """

    def fits(stride: float, size: int, cells: int) -> bool:
        return math.ceil(size / stride - 1e-6) == cells

    def pick(stride: float, size: int, cells: int) -> float:
        if fits(stride, size, cells):
            return stride
        exact = size / cells
        for cand in (round(exact), math.ceil(exact), round(exact, 2), math.ceil(exact * 100) / 100):
            if fits(cand, size, cells):
                return cand
        return size / cells

    out = []
    for (sw, sh), (fh, fw) in zip(strides, featmaps):
        nw, nh = pick(float(sw), w, fw), pick(float(sh), h, fh)
        nw, nh = (int(v) if float(v).is_integer() else v for v in (nw, nh))
        out.append(nw if nw == nh else [nw, nh])
    return out


def featmap_sizes(model: nn.Module, h: int, w: int) -> List[Tuple[int, int]]:
    """``(fh, fw)`` of the features the model's backbone and neck give at ``h x w``."""
    from ssd_plugin.engine.hooks.ssd_config_check_hook import SSDConfigCheckHook

    feats = SSDConfigCheckHook._dummy_features(model, h, w)
    return [tuple(int(v) for v in f.shape[-2:]) for f in feats]


class _TensorForward(nn.Module):
    """``model._forward(x)``: backbone, neck and head, what the FLOP counter traces."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model._forward(x)


def model_flops(model: nn.Module, h: int, w: int) -> int:
    """FLOPs (fused multiply-adds) of one ``3 x h x w`` forward (mmengine's counter)."""
    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    was_training, level = model.training, logger.level
    model.eval()
    logger.setLevel('ERROR')  # the counter warns of every op without FLOPs (activations, BN)
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                _TensorForward(model), input_shape=(3, h, w), show_table=False, show_arch=False
            )
    finally:
        model.train(was_training)
        logger.setLevel(level)
    return int(info['flops'])


def num_priors(generator, h: int, w: int) -> int:
    """Default boxes of the generator on an ``h x w`` input (``ceil(input / stride)`` maps)."""
    maps = grid_sizes(generator, h, w)
    return sum(fh * fw * int(a) for (fh, fw), a in zip(maps, generator.num_base_priors))


def input_shape_at(cfg: Any, size: int) -> Tuple[int, int]:
    """``(h, w)`` of the network input at longer side ``size`` (padded to ``pad_size_divisor``)."""
    w0, h0 = configured_input(cfg)
    f = size / max(w0, h0)
    d = pad_size_divisor(cfg)
    return math.ceil(round(h0 * f) / d) * d, math.ceil(round(w0 * f) / d) * d


def resized_config(
    cfg: Any, stock_gen, stock_cfg: Dict, size: int, featmaps: Sequence[Tuple[int, int]]
) -> Tuple[Any, Dict, Dict, List[str]]:
    """``cfg`` at input side ``size``.

    Args:
        cfg: The merged config.
        stock_gen: Its built anchor generator.
        stock_cfg: Its anchor generator config.
        size: The new longer input side.
        featmaps: ``(fh, fw)`` per level at the new input (:func:`featmap_sizes`).

    Returns:
        ``(cfg at size, its anchor generator config, the dataloader overrides
        to write into a config, the same as --cfg-options words)``.
    """
    w0, h0 = configured_input(cfg)
    f = size / max(w0, h0)
    h, w = input_shape_at(cfg, size)
    changes = scaled_resizes(cfg, f)
    new = copy.deepcopy(cfg)
    new.merge_from_dict(changes)
    loaders: Dict = {}  # the changed parts of the dataloaders, lists (pipelines) written whole
    for key in changes:
        parts = key.split('.')
        end = next(i for i, part in enumerate(parts) if part.isdigit()) - 1
        node, value = loaders, new
        for part in parts[:end]:
            node, value = node.setdefault(part, {}), value[part]
        node[parts[end]] = value[parts[end]]
    words = [f'{key}={cfg_literal(value)}' for key, value in changes.items()]
    mins, maxs, _ = stock_settings(stock_gen, stock_cfg.get('ratios'))
    gen = sized_generator_cfg(
        stock_cfg,
        input_size=size,
        strides=strides_for(stock_gen.strides, featmaps, h, w),
        min_sizes=[round(v * f, 2) for v in mins],
        max_sizes=[round(v * f, 2) for v in maxs],
    )
    new['model']['bbox_head']['anchor_generator'] = copy.deepcopy(gen)
    return new, gen, loaders, words


def sized_generator_cfg(stock_cfg: Dict, **keys: Any) -> Dict:
    """The anchor generator config with ``keys`` set: explicit ``min_sizes`` and
    ``max_sizes``, so without the ``basesize_ratio_range`` and ``size_mode`` that derive them."""
    gen = {k: v for k, v in stock_cfg.items() if k not in ('basesize_ratio_range', 'size_mode')}
    gen.update(keys)
    return gen


def backbone_features_at_stride(model: nn.Module, h: int, w: int, stride: float) -> List[Tuple]:
    """``(module name, channels)`` of backbone modules whose output is at ``stride``.

    A dummy forward of the backbone records every submodule's 4-D output; a
    feature map of ``ceil(input / stride)`` cells means the backbone computes
    that stride (a finer level could take it, through ``out_indices`` or the
    neck). The shallowest modules come first (the backbone's stages, e.g.
    ``backbone.layer2``), in forward order.
    """
    want = (math.ceil(h / stride - 1e-6), math.ceil(w / stride - 1e-6))
    found: List[Tuple] = []
    hooks = []
    for name, module in model.backbone.named_modules():
        if name == '':
            continue

        def hook(_m, _i, out, name=name):
            if torch.is_tensor(out) and out.dim() == 4 and tuple(out.shape[-2:]) == want:
                found.append((f'backbone.{name}', int(out.shape[1])))

        hooks.append(module.register_forward_hook(hook))
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.backbone(torch.zeros(1, 3, h, w, dtype=param.dtype, device=param.device))
    finally:
        model.train(was_training)
        for handle in hooks:
            handle.remove()
    order = {name: i for i, (name, _) in enumerate(found)}
    return sorted(dict(found).items(), key=lambda item: (item[0].count('.'), order[item[0]]))
