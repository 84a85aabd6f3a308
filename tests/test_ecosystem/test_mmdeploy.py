"""mmdeploy exports every shipped config with its stock deploy configs.

``tools/deploy.py`` (mmdeploy's ``torch2onnx`` and ``export2SDK``, then the
export under ONNX Runtime against PyTorch ``model.predict``) runs as a user runs
it, in a subprocess, with mmdeploy v1.3.1's own ONNX Runtime detection deploy
configs (copied unchanged into ``shared/``: the mmdeploy wheel ships none).
Every config is exported with a dynamic shape; SSD300 and the demo's model also
with a static one.

The model configs run with ``nms_pre`` large enough never to bind: mmdeploy's
rewrite ranks each level's priors by their best class score (leaving out the
last class) where mmdet ranks (prior, class) pairs, so a binding ``nms_pre`` can
keep other candidates (docs/deployment.md). Everything else is the config's.
"""

import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from ecosystem_test_utils import (
    CONFIG_DIR,
    MMDEPLOY_CONFIGS,
    ROOT,
    decisive_checkpoint,
    shipped_configs,
    write_image,
)

pytestmark = pytest.mark.slow  # ~30-60 s an export on 2 CPU cores

pytest.importorskip('mmdeploy', reason='mmdeploy is the [deploy] extra (tools/setup_env.sh)')
if not osp.isdir(MMDEPLOY_CONFIGS) and not os.getenv('CI'):
    pytest.skip(f"mmdeploy's deploy configs are not at {MMDEPLOY_CONFIGS}", allow_module_level=True)

CASES = [(name, 'dynamic') for name in shipped_configs()] + [
    ('ssd300_coco.py', 'static'),
    ('demo/ssd_cspdarknet_synthetic_cpu.py', 'static'),
]


@pytest.mark.parametrize('name,shape', CASES)
def test_mmdeploy_export_matches_pytorch(name, shape, tmp_path):
    config = osp.join(CONFIG_DIR, name)
    deploy_cfg = osp.join(
        MMDEPLOY_CONFIGS, 'mmdet', 'detection', f'detection_onnxruntime_{shape}.py'
    )
    checkpoint = decisive_checkpoint(config, str(tmp_path / 'model.pth'))
    image = write_image(str(tmp_path / 'image.jpg'))
    work_dir = str(tmp_path / 'deploy')
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(ROOT, 'tools', 'deploy.py'),
            deploy_cfg,
            config,
            checkpoint,
            image,
            '--work-dir',
            work_dir,
            '--cfg-options',
            'model.test_cfg.nms_pre=100000',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    match = re.search(r'the export matches PyTorch \((\d+) detections', proc.stdout)
    assert match and int(match.group(1)) > 0, proc.stdout[-3000:]
    for name in ('end2end.onnx', 'deploy.json', 'pipeline.json', 'detail.json'):
        assert osp.getsize(osp.join(work_dir, name)) > 0, name
