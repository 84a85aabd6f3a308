"""Helpers of the ecosystem tests: every shipped config, a checkpoint of each that
detects something, and a generated image.

The checkpoints are random (nothing can be downloaded here, and training every
config would take hours), made decisive: each level's last class-predictor conv
is scaled so that its logits have a standard deviation of ``logit_std`` on a
generated input (a random SSD scores every class near ``1 / (C + 1)``, below
``score_thr``, and would detect nothing, or tie everywhere), so the
comparisons have distinct detections to compare.
"""

import os
import os.path as osp
from typing import List

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs')
MMDEPLOY_CONFIGS = osp.join(osp.dirname(ROOT), 'shared', 'mmdeploy_v1.3.1_configs')


def shipped_configs() -> List[str]:
    """Every config under ``configs/`` but ``_base_``, relative to it."""
    return sorted(
        osp.relpath(osp.join(d, name), CONFIG_DIR)
        for d, _, names in os.walk(CONFIG_DIR)
        for name in names
        if name.endswith('.py') and '_base_' not in osp.relpath(d, CONFIG_DIR).split(os.sep)
    )


def decisive_checkpoint(config: str, path: str, seed: int = 0, logit_std: float = 3.0) -> str:
    """Save a random checkpoint of ``config``'s model whose scores spread apart.

    Args:
        config: A config file.
        path: Where the ``.pth`` goes.
        seed: Random seed of the weights.
        logit_std: Standard deviation of each level's class logits on a
            ``(2, 3, 320, 320)`` uniform input in [-2, 2], batch-norm statistics
            taken from it.

    Returns:
        ``path``.
    """
    from mmdet.registry import MODELS

    cfg = Config.fromfile(config)
    backbone = cfg.model.backbone
    if backbone.get('init_cfg') and backbone.init_cfg.get('type') == 'Pretrained':
        backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmdet'):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
    inputs = torch.rand(2, 3, 320, 320) * 4 - 2  # about what the data preprocessors give
    with torch.no_grad():
        # Batch-norm statistics of these inputs: random deep nets (SSDLite's
        # MobileNetV2) otherwise shrink their features to ~1e-6 and below.
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average of the batches
        model.train()
        model.bbox_head(model.extract_feat(inputs))
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()
        feats = model.extract_feat(inputs)
        for feat, tower in zip(feats, model.bbox_head.cls_convs):
            conv = [m for m in tower.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            conv.bias.zero_()
            conv.weight.mul_(logit_std / max(float(tower(feat).std()), 1e-12))
    classes = tuple(f'class{i}' for i in range(model.bbox_head.num_classes))
    meta = dict(dataset_meta=dict(classes=classes))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


def write_image(path: str, size=(240, 320), seed: int = 0) -> str:
    """A ``(H, W)`` JPEG of coloured rectangles on noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = (rng.random((h, w, 3)) * 80).astype(np.uint8)
    for _ in range(6):
        x1, y1 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x2, y2 = x1 + int(rng.integers(20, 120)), y1 + int(rng.integers(20, 120))
        img[y1:y2, x1:x2] = rng.integers(60, 255, 3)
    cv2.imwrite(path, img)
    return path
