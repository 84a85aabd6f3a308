"""mmdet's ``DetInferencer`` and sahi's sliced prediction on every shipped config.

Each config runs in a fresh Python process that does what a user of those tools
writes, and nothing more: no ``import ssd_plugin`` (the config's
``custom_imports`` loads it), mmdet's default scope (``DetInferencer``'s and
sahi's ``scope='mmdet'``), a config path and a checkpoint.

sahi 0.12.8 cannot load a model whose training set is a ``ConcatDataset`` (VOC07+12,
as in mmdet's own ``pascal_voc/ssd300_voc0712.py``): its ``has_mask`` looks for a
``pipeline`` key on the wrapper and raises ``KeyError: 'pipeline'``. That case is
checked to fail that way, so that the test notices when sahi fixes it
(docs/deployment.md).
"""

import json
import os.path as osp
import subprocess
import sys

import pytest
from ecosystem_test_utils import CONFIG_DIR, decisive_checkpoint, shipped_configs, write_image

# A fresh interpreter per config (imports ~10 s): `make test-all` (CI), not `make test`.
pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
from mmdet.apis import DetInferencer
from sahi import AutoDetectionModel
from sahi.predict import get_sliced_prediction

config, checkpoint, image = sys.argv[1:4]
inferencer = DetInferencer(model=config, weights=checkpoint, device='cpu', show_progress=False)
whole = inferencer(image, pred_score_thr=0.0, no_save_pred=True)['predictions'][0]
result = dict(whole=len(whole['scores']))
try:
    model = AutoDetectionModel.from_pretrained(
        model_type='mmdet', model_path=checkpoint, config_path=config, device='cpu',
        confidence_threshold=0.0,
    )
    sliced = get_sliced_prediction(
        image, model, slice_height=160, slice_width=160,
        overlap_height_ratio=0.2, overlap_width_ratio=0.2, verbose=0,
    )
    result['sliced'] = len(sliced.object_prediction_list)
except KeyError as err:
    result['sahi_error'] = repr(err)
print('RESULT ' + json.dumps(result))
"""


@pytest.mark.parametrize('name', shipped_configs())
def test_det_inferencer_and_sahi_run(name, tmp_path):
    config = osp.join(CONFIG_DIR, name)
    checkpoint = decisive_checkpoint(config, str(tmp_path / 'model.pth'))
    image = write_image(str(tmp_path / 'image.jpg'))
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, config, checkpoint, image],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith('RESULT '))
    result = json.loads(line[len('RESULT ') :])
    assert result['whole'] > 0, result  # the decisive checkpoint detects something
    if 'ssd300_voc0712' in name:  # sahi's ConcatDataset bug (see the module docstring)
        assert result == dict(whole=result['whole'], sahi_error="KeyError('pipeline')"), result
    else:
        assert result['sliced'] > 0, result
