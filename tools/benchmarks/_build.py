"""The models the ``train``, ``infer`` and ONNX Runtime benchmarks time: a plugin
config and its mmdet baseline (``PAIRS``), built with random but identical
weights, and a packed batch of random images."""

import torch

PAIRS = {
    'ssd300': ('configs/ssd300_coco.py', 'configs/baselines/mmdet_ssd300_coco.py'),
    'ssd512': ('configs/ssd512_coco.py', 'configs/baselines/mmdet_ssd512_coco.py'),
    'ssdlite': (
        'configs/ssdlite_mobilenetv2_coco.py',
        'configs/baselines/mmdet_ssdlite_mobilenetv2_coco.py',
    ),
}


def build(config: str, device: str, state_dict=None):
    """Model of ``config`` with random init (no pretrained download)."""
    from mmengine.registry import MODELS, DefaultScope

    import ssd_plugin  # noqa: F401
    from ssd_plugin import register_all_modules
    from ssd_plugin.apis.tool_config import load_tool_config

    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(config, cfg_options={'model.backbone.init_cfg': None})
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model.to(device), cfg.input_size


def packed_batch(batch: int, size: int, num_classes: int, device: str):
    from mmdet.testing import demo_mm_inputs

    packed = demo_mm_inputs(
        batch, [(3, size, size)] * batch, num_items=[8] * batch, num_classes=num_classes
    )
    packed['inputs'] = [x.to(device) for x in packed['inputs']]
    return packed
