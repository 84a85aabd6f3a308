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
from .fit import stock_settings
from .ground_truth import (
    FIXED_RESIZES,
    DefaultBoxesError,
    pad_size_divisor,
    resize_target,
    train_datasets,
    type_name,
    without_scope,
)
from .report import cfg_literal


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


def input_shape_at(cfg: Any, size: int) -> Tuple[int, int]:
    """``(h, w)`` of the network input at longer side ``size`` (padded to ``pad_size_divisor``)."""
    w0, h0 = configured_input(cfg)
    f = size / max(w0, h0)
    d = pad_size_divisor(cfg)
    return math.ceil(round(h0 * f) / d) * d, math.ceil(round(w0 * f) / d) * d


def scaled_resizes(cfg: Any, f: float) -> Dict[str, Any]:
    """``{--cfg-options key: value}`` that scale every fixed resize of the dataloaders'
    pipelines by ``f`` (the datasets inside wrappers too: :func:`leaf_datasets`)."""
    changes = {}
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
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

    def pick(stride: float, size: int, cells: int) -> float:
        exact = size / cells
        for cand in (
            stride,
            round(exact),
            math.ceil(exact),
            round(exact, 2),
            math.ceil(exact * 100) / 100,
        ):
            if math.ceil(size / cand - 1e-6) == cells:
                return cand
        return exact

    out = []
    for (sw, sh), (fh, fw) in zip(strides, featmaps):
        nw, nh = pick(float(sw), w, fw), pick(float(sh), h, fh)
        nw, nh = (int(v) if float(v).is_integer() else v for v in (nw, nh))
        out.append(nw if nw == nh else [nw, nh])
    return out


def featmap_sizes(model: nn.Module, h: int, w: int) -> List[Tuple[int, int]]:
    """``(fh, fw)`` of the features the model's backbone and neck give at ``h x w``.

    Raises:
        DefaultBoxesError: naming the size, when the model cannot run at it (a
            kernel larger than a deep feature map, as VGG16's extra layers below 300).
    """
    from ssd_plugin.engine.hooks.ssd_config_check_hook import SSDConfigCheckHook

    try:
        feats = SSDConfigCheckHook._dummy_features(model, h, w)
    except RuntimeError as err:
        raise DefaultBoxesError(
            f'--input-sizes: the model cannot run at {h}x{w} ({err}); give a larger size'
        ) from None
    return [tuple(int(v) for v in f.shape[-2:]) for f in feats]


def model_flops(model: nn.Module, h: int, w: int) -> int:
    """FLOPs (fused multiply-adds) of one ``3 x h x w`` forward (mmengine's counter) of
    ``model(x)``, which is ``model._forward(x)`` (mode ``'tensor'``): backbone, neck, head."""
    from mmengine.analysis import get_model_complexity_info
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    was_training, level = model.training, logger.level
    model.eval()
    logger.setLevel('ERROR')  # the counter warns of every op without FLOPs (activations, BN)
    try:
        with torch.no_grad():
            info = get_model_complexity_info(
                model, input_shape=(3, h, w), show_table=False, show_arch=False
            )
    finally:
        model.train(was_training)
        logger.setLevel(level)
    return int(info['flops'])


def num_priors(generator, h: int, w: int) -> int:
    """Default boxes of the generator on an ``h x w`` input (``ceil(input / stride)`` maps)."""
    maps = grid_sizes(generator, h, w)
    return sum(fh * fw * int(a) for (fh, fw), a in zip(maps, generator.num_base_priors))


def sized_generator_cfg(stock_cfg: Dict, **keys: Any) -> Dict:
    """The anchor generator config with ``keys`` set: explicit ``min_sizes`` and
    ``max_sizes``, so without the ``basesize_ratio_range`` and ``size_mode`` that derive them."""
    gen = {k: v for k, v in stock_cfg.items() if k not in ('basesize_ratio_range', 'size_mode')}
    gen.update(keys)
    return gen


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

    def hook(name: str):
        def record(_m, _i, out) -> None:
            if torch.is_tensor(out) and out.dim() == 4 and tuple(out.shape[-2:]) == want:
                found.append((f'backbone.{name}', int(out.shape[1])))

        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.backbone.named_modules() if n]
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


def compare_input_sizes(analysis, run, base_size: int) -> Dict:
    """Analyse and fit at each input size; recommend one; write its fitted config.

    Args:
        analysis: The :class:`.analysis.DefaultBoxAnalysis` (its options, ``measure``,
            ``fit_run``, ``write_fitted`` and ``log``).
        run: Its :class:`.analysis.SizeRun` at the configured size.
        base_size: The configured input size (longer side).

    Returns:
        ``report.json``'s ``input_sizes``, ``target``, ``recommended_input_size``,
        ``recommendation`` and ``finer_level``.
    """
    from ssd_plugin.registry import MODELS

    cfg, target = run.cfg, analysis.target
    model = MODELS.build(copy.deepcopy(cfg.model))
    h0, w0 = input_shape_at(cfg, base_size)
    flops0 = model_flops(model, h0, w0)
    runs = {base_size: (run, {}, [], (h0, w0))}
    for size in sorted({int(s) for s in analysis.input_sizes} - {base_size}):
        h, w = input_shape_at(cfg, size)
        featmaps = featmap_sizes(model, h, w)
        cfg_s, gen_cfg, loaders, words = resized_config(
            cfg, run.generator, run.stock_cfg, size, featmaps
        )
        analysis.log(f'--- input size {size} ({w} x {h}) ---')
        run_s = analysis.measure(cfg_s, gen_cfg)
        analysis.fit_run(run_s, strict=False)
        runs[size] = (run_s, loaders, words, (h, w))
    entries = []
    for size, (run_s, loaders, words, (h, w)) in sorted(runs.items()):
        path = analysis.write_fitted(
            run_s, size, loaders, words, name=f'fitted_config_{size}.py', quiet=True
        )
        flops = flops0 if size == base_size else model_flops(model, h, w)
        entries.append(
            dict(
                input_size=size,
                input_shape=[h, w],
                coverage_ceiling=run_s.ceiling_summary['all']['coverage_ceiling'],
                coverage=run_s.summary['all']['coverage'],
                coverage_configured=run_s.summary_before['all']['coverage'],
                mean_best_iou=run_s.summary['all']['mean_best_iou'],
                per_size=run_s.per_size(configured=True),
                num_priors=num_priors(run_s.fitted_generator or run_s.generator, h, w),
                flops=flops,
                relative_flops=flops / flops0,
                fitted_anchor_generator=without_scope(run_s.fitted_cfg or run_s.stock_cfg),
                fitted=run_s.fitted_cfg is not None,
                fit_error=run_s.fit_error,
                config=path,
            )
        )
    reaching = [e for e in entries if e['coverage'] >= target]
    best = (
        min(reaching, key=lambda e: e['input_size'])
        if reaching
        else max(entries, key=lambda e: (e['coverage'], -e['input_size']))
    )
    size = best['input_size']
    why = (
        f'the smallest input size whose fitted coverage reaches {target:g}'
        if reaching
        else f'no input size tried reaches coverage {target:g}: the one with the best coverage'
    )
    analysis.log(f'recommended input size: {size} ({why}; coverage {best["coverage"]:.4f})')
    run_s, loaders, words, _ = runs[size]
    if size == base_size and run_s.fitted_cfg is None:
        analysis.log(
            'the recommended size is the configured one, where the configured boxes are '
            'kept: no fitted_config.py'
        )
    else:
        analysis.write_fitted(run_s, size if size != base_size else None, loaders, words)
    return dict(
        input_sizes=entries,
        target=target,
        recommended_input_size=size,
        recommendation=why,
        finer_level=finer_level(analysis, run, model, h0, w0),
    )


def finer_level(analysis, run, model: nn.Module, h: int, w: int) -> Dict:
    """What one more level at half the finest stride would give (at the configured size)."""
    gen = run.generator
    first = min(range(gen.num_levels), key=lambda k: max(gen.strides[k]))
    sw, sh = (float(v) for v in gen.strides[first])
    fine = tuple(int(v) if float(v).is_integer() else v for v in (sw / 2, sh / 2))
    stride = fine[0] if fine[0] == fine[1] else list(fine)
    mins, maxs, ratios = stock_settings(gen, run.stock_cfg.get('ratios'))
    features = backbone_features_at_stride(model, h, w, max(fine))
    gen_cfg = sized_generator_cfg(
        run.stock_cfg,
        strides=[stride] + [list(s) if s[0] != s[1] else s[0] for s in gen.strides],
        ratios=[list(ratios[first])] + [list(r) for r in ratios],
        min_sizes=[round(mins[first] / 2, 2)] + [round(v, 2) for v in mins],
        max_sizes=[round(mins[first], 2)] + [round(v, 2) for v in maxs],
    )
    extra = analysis.measure(run.cfg, gen_cfg, run.gt, 'the finer level')
    analysis.log(f'--- a finer level at stride {fine[0]:g} (configured input size) ---')
    analysis.fit_run(extra, strict=False)
    note = (
        f'the backbone computes stride-{fine[0]:g} feature maps (e.g. {features[0][0]}, '
        f"{features[0][1]} channels): a level there needs the backbone's out_indices or the "
        'neck to pass it on, and one more head level'
        if features
        else f'the backbone computes no stride-{fine[0]:g} feature map at this input: a finer '
        'level needs another backbone'
    )
    return dict(
        stride=stride,
        backbone_features=[dict(module=m, channels=c) for m, c in features],
        available=bool(features),
        coverage_ceiling=extra.ceiling_summary['all']['coverage_ceiling'],
        coverage=extra.summary['all']['coverage'],
        per_size=extra.per_size(),
        num_priors=num_priors(extra.fitted_generator or extra.generator, h, w),
        anchor_generator=without_scope(extra.fitted_cfg or gen_cfg),
        note=note,
    )
