"""A checkpoint of mmdet's own SSD300 loads into the plugin's SSD300 config
unchanged and gives the same detections."""

from pathlib import Path

import pytest
import torch
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner import load_checkpoint

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def build(name):
    cfg = Config.fromfile(str(CONFIGS / name))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


@pytest.mark.slow
def test_mmdet_ssd300_checkpoint_predicts_identically(tmp_path):
    torch.manual_seed(0)
    theirs = build('baselines/mmdet_ssd300_coco.py')
    # Random VGG features give logits up to ~60 (scores saturate at 1.0 and tie);
    # temper them so that scores are distinct but many boxes pass score_thr.
    for conv in theirs.bbox_head.cls_convs:
        conv[-1].weight.data *= 0.15
    ckpt = tmp_path / 'mmdet_ssd300.pth'
    torch.save({'state_dict': theirs.state_dict(), 'meta': {}}, ckpt)

    ours = build('ssd300_coco.py')
    assert type(ours.bbox_head).__module__.startswith('ssd_plugin.')
    load_checkpoint(ours, str(ckpt), strict=True)

    packed = demo_mm_inputs(2, [(3, 300, 300)] * 2, num_items=[1, 1])
    with torch.no_grad():
        a = ours(**ours.data_preprocessor(packed, False), mode='predict')
        b = theirs(**theirs.data_preprocessor(packed, False), mode='predict')
    for x, y in zip(a, b):
        x, y = _rows(x.pred_instances), _rows(y.pred_instances)
        assert len(x) == len(y) > 20
        assert torch.allclose(x, y, atol=1e-3)


def _rows(instances):
    """Detections as (label, x1, y1, x2, y2, score) rows in a canonical order."""
    rows = torch.cat(
        [instances.labels[:, None].float(), instances.bboxes, instances.scores[:, None]], 1
    )
    keys = sorted(range(len(rows)), key=lambda i: tuple(round(v, 2) for v in rows[i].tolist()))
    return rows[keys]
