"""Every config under configs/ runs through the real tools, as a user runs them.

For each config (found automatically: a new config is covered without editing
this file), on data generated in the layout that config expects (COCO 2017,
VOC07+12 or the demo's synthetic set), in subprocesses:

1. ``tools/train.py`` for one short epoch with validation;
2. ``tools/test.py`` on the checkpoint it wrote (COCO or VOC metrics printed);
3. ``tools/infer.py`` on one image;
4. ``tools/export_onnx.py`` on the same checkpoint (checked under onnxruntime).

The configs run as they are (VGG16 at 300 and 512 included). ``--cfg-options``
change only the data root and size, the schedule length, the batch size and
pretrained ``init_cfg`` (no weights can be downloaded here). Plus
``tools/dist_train.sh CONFIG 2`` (gloo, 2 CPU processes) on one plugin COCO
config, started from a plain shell (no environment activated, no ``PYTHON``).
"""

import json
import os
import os.path as osp
import re
import socket
import subprocess
from typing import Dict, Iterator, List, Tuple

import pytest
from mmengine.config import Config
from tools_test_utils import ROOT, assert_ok, run_tool, tool_env

from synthetic_data import generate_synthetic_coco

# Minutes of VGG16 at 300/512 px on CPU: `make test-all` (CI) runs these, `make test` not.
pytestmark = pytest.mark.slow

CONFIG_DIR = osp.join(ROOT, 'configs')
CONFIGS = sorted(
    osp.relpath(osp.join(d, name), CONFIG_DIR)
    for d, _, names in os.walk(CONFIG_DIR)
    for name in names
    if name.endswith('.py') and '_base_' not in osp.relpath(d, CONFIG_DIR).split(os.sep)
)
DIST_CONFIG = 'ssdlite_mobilenetv2_coco.py'  # the lightest plugin COCO config
# Images per split: with batch 2, two training iterations (VOC: 2 + 2 trainval images).
IMAGES = dict(synthetic=(4, 2), coco2017=(4, 2), voc0712=(2, 2))
# Evaluation ran: COCO's metrics, or CocoMetric's note that an untrained model (e.g.
# SSDLite, its head initialised at std 0.001: every score near 1/81 < score_thr) found
# nothing.
_COCO = r'coco/bbox_mAP: -?\d|The testing results of the whole dataset is empty'
METRIC = dict(synthetic=_COCO, coco2017=_COCO, voc0712=r'pascal_voc/mAP: \d')
TIMEOUT = 900  # per tool run; VGG16 SSD512 on 2 busy cores is the slowest


def _leaf_datasets(ds: Dict, key: str) -> Iterator[Tuple[str, Dict]]:
    """``(cfg-options key, dict)`` of every dataset inside wrappers."""
    if ds.get('dataset') is not None:
        yield from _leaf_datasets(ds['dataset'], f'{key}.dataset')
    elif ds.get('datasets') is not None:
        for i, sub in enumerate(ds['datasets']):
            yield from _leaf_datasets(sub, f'{key}.datasets.{i}')
    else:
        yield key, ds


def _layout(cfg: Config, name: str) -> str:
    """The generated layout that stands in for the data ``cfg`` expects."""
    ann_files = [
        str(ds.get('ann_file', ''))
        for _, ds in _leaf_datasets(cfg.train_dataloader.dataset, 'train_dataloader.dataset')
    ]
    if all('ImageSets/Main/' in a for a in ann_files):
        return 'voc0712'
    if all(a.endswith('instances_train2017.json') for a in ann_files):
        return 'coco2017'
    if all(a.endswith('instances_train.json') for a in ann_files):
        return 'synthetic'
    raise AssertionError(f'{name}: no generated layout for its training data {ann_files}')


def _options(cfg: Config, data_root: str, layout: str) -> Dict[str, List[str]]:
    """``--cfg-options`` of the train and the test run: data root and size, schedule,
    batch, and pretrained ``init_cfg``. Nothing else of the config changes."""
    data: List[str] = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        for key, _ in _leaf_datasets(dataset, f'{loader}.dataset'):
            data.append(f'{key}.data_root={data_root}')
        if dataset.get('times') is not None:  # RepeatDataset: one pass
            data.append(f'{loader}.dataset.times=1')
        data.append(f'{loader}.batch_size=2')
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if isinstance(cfg[evaluator].get('ann_file'), str):
            name = osp.basename(cfg[evaluator].ann_file)
            data.append(f'{evaluator}.ann_file={osp.join(data_root, "annotations", name)}')
    train = list(data)
    loop = cfg.train_cfg
    if 'max_epochs' in loop:
        train += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    else:
        train += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2']
    init_cfg = cfg.model.backbone.get('init_cfg')
    if init_cfg is not None and init_cfg.get('type') == 'Pretrained':
        train.append('model.backbone.init_cfg=None')
    return dict(train=train, test=data)


@pytest.fixture(scope='session')
def layout_data(tmp_path_factory):
    """``layout -> data root``, each generated once, on first use."""
    roots: Dict[str, str] = {}

    def get(layout: str) -> str:
        if layout not in roots:
            num_train, num_val = IMAGES[layout]
            root = str(tmp_path_factory.mktemp(f'e2e_{layout}') / 'data') + '/'
            generate_synthetic_coco(
                root,
                num_train=num_train,
                num_val=num_val,
                img_size=128,
                seed=7,
                min_objects=2,
                layout=layout,
                log=lambda _: None,
            )
            roots[layout] = root
        return roots[layout]

    return get


def _checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    assert osp.isfile(path), path
    return path


def _val_image(data_root: str, layout: str) -> str:
    if layout == 'voc0712':
        with open(osp.join(data_root, 'VOC2007/ImageSets/Main/test.txt')) as f:
            return osp.join(data_root, 'VOC2007/JPEGImages', f.readline().strip() + '.jpg')
    folder = 'val2017' if layout == 'coco2017' else 'val'
    return osp.join(data_root, folder, sorted(os.listdir(osp.join(data_root, folder)))[0])


def test_every_config_is_covered():
    assert len(CONFIGS) >= 11 and DIST_CONFIG in CONFIGS
    assert 'demo/ssd_cspdarknet_synthetic_cpu.py' in CONFIGS
    assert sum(c.startswith('baselines/') for c in CONFIGS) >= 4


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_tests_infers_and_exports(name, layout_data, tmp_path):
    config = osp.join(CONFIG_DIR, name)
    cfg = Config.fromfile(config)
    layout = _layout(cfg, name)
    data_root = layout_data(layout)
    options = _options(cfg, data_root, layout)

    work_dir = str(tmp_path / 'train')
    proc = run_tool(
        ['train.py', config, '--work-dir', work_dir, '--cfg-options'] + options['train'],
        timeout=TIMEOUT,
    )
    assert_ok(proc)
    log = proc.stdout + proc.stderr
    assert re.search(r'Epoch\(train\)|Iter\(train\)', log), log[-3000:]
    assert re.search(METRIC[layout], log), f'no validation metrics:\n{log[-3000:]}'
    checkpoint = _checkpoint(work_dir)

    proc = run_tool(
        ['test.py', config, checkpoint, '--work-dir', str(tmp_path / 'test'), '--cfg-options']
        + options['test'],
        timeout=TIMEOUT,
    )
    assert_ok(proc)
    assert re.search(METRIC[layout], proc.stdout + proc.stderr), proc.stdout[-3000:]

    image, out_dir = _val_image(data_root, layout), str(tmp_path / 'infer')
    proc = run_tool(
        ['infer.py', image, config, checkpoint, '--out-dir', out_dir, '--score-thr', '0.0'],
        timeout=TIMEOUT,
    )
    assert_ok(proc)
    with open(osp.join(out_dir, 'detections.json')) as f:
        result = json.load(f)
    assert [r['image'] for r in result['images']] == [image]
    assert len(result['classes']) == cfg.model.bbox_head.num_classes
    assert osp.isfile(osp.join(out_dir, 'vis', osp.basename(image)))

    onnx_file = str(tmp_path / 'model.onnx')
    proc = run_tool(['export_onnx.py', config, checkpoint, '--out', onnx_file], timeout=TIMEOUT)
    assert_ok(proc)
    assert 'onnxruntime matches PyTorch' in proc.stdout
    assert osp.getsize(onnx_file) > 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_cpu_processes_from_a_plain_shell(layout_data, tmp_path):
    """``tools/dist_train.sh CONFIG 2`` with no environment activated and no ``PYTHON``:
    the script finds the project's ``.venv`` itself."""
    venv_python = osp.join(ROOT, '.venv', 'bin', 'python')
    if not osp.isfile(venv_python):
        pytest.skip('no .venv in the repository (make test creates it)')
    config = osp.join(CONFIG_DIR, DIST_CONFIG)
    cfg = Config.fromfile(config)
    options = _options(cfg, layout_data('coco2017'), 'coco2017')['train']
    work_dir = str(tmp_path / 'work')
    env = tool_env(dict(PORT=str(_free_port()), PATH='/usr/bin:/bin'))
    for key in ('PYTHON', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYTHONHOME'):
        env.pop(key, None)
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config, '2', '--work-dir', work_dir]
        + ['--cfg-options']
        + options,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    log = proc.stdout + proc.stderr
    assert "using the 'gloo' backend instead of 'nccl'" in log
    assert 'process group as rank 0 of 2' in log and re.search(METRIC['coco2017'], log)
    assert osp.isfile(_checkpoint(work_dir))
