"""The one-shot GPU suite (tools/benchmarks/gpu_suite.sh, tools/benchmarks/gpu_suite.py):
its dry run end to end on the CPU (every step, tiny sizes), the JSON it writes, and
the parts that only the GPU would exercise (the install into a virtual environment,
the sync-debug recording, the NMS stand-in, the time limit of a step)."""

import base64
import hashlib
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from tools_test_utils import assert_ok, load_benchmark, run_command

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    """``gpu_suite.sh --dry-run`` as the GPU session runs it, minus the install step."""
    out = tmp_path_factory.mktemp('gpu_suite')
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable)
    proc = run_command(['bash', str(TOOLS / 'benchmarks' / 'gpu_suite.sh'), '--dry-run'], env, 900)
    assert_ok(proc)
    return json.loads((out / 'gpu_suite.json').read_text()), out


@pytest.mark.slow
def test_dry_run_runs_every_step(dry_run):
    results, out = dry_run
    suite = load_benchmark('gpu_suite')
    assert list(results['steps']) == list(suite.STEPS)
    for name, step in results['steps'].items():
        assert step['status'] == 'ok' and step['complete'], (name, step)
        assert step['seconds'] <= step['limit_s']
    assert results['dry_run'] is True
    assert results['finished_utc'] >= results['started_utc']
    assert set(results['method']) >= {'timing', 'train', 'infer', 'peak_memory', 'loss', 'data'}
    assert results['plan'] == json.loads(json.dumps(suite.plan(dry_run=True)))
    log = (out / 'gpu_suite.log').read_text()
    assert '[train]' in log and 'results written to' in log


@pytest.mark.slow
def test_dry_run_json_holds_every_measurement(dry_run):
    results, _ = dry_run
    steps = {name: step['result'] for name, step in results['steps'].items()}
    env = steps['env']
    assert set(env['versions']) >= {'torch', 'mmcv', 'mmdet', 'mmengine', 'ssd_plugin'}
    assert env['mmcv_ops'] == 'compiled' and env['mmcv_nms_on_device'] == 'ok'
    assert env['nms_stand_in']['same_keep'] is True

    train_keys = {'ours_img_s', 'mmdet_img_s', 'speedup', 'ours_peak_mb', 'mmdet_peak_mb'}
    train = steps['train']['rows']
    assert [(r['model'], r['amp'], r['channels_last']) for r in train] == [('ssdlite', False, True)]
    for row in train:
        assert train_keys <= set(row) and row['speedup'] > 0, row
    infer = steps['infer']['rows']
    assert [(r['model'], r['batch']) for r in infer] == [('ssdlite', 2)]
    for row in infer:
        assert {'ours_ms', 'mmdet_ms', 'speedup', 'agreement'} <= set(row), row
        assert 0 <= row['agreement'] <= 1
    assert 'replaces mmcv.ops.nms' in steps['infer']['nms']
    (loss,) = steps['loss']['rows']
    assert loss['speedup'] > 0 and loss['loss_diff'] < 1e-3
    data = steps['data']['rows']
    assert [(r['pipeline'], r['workers']) for r in data] == [
        ('mmdet', 1),
        ('ssd_plugin (lazy Expand)', 1),
        ('mmdet', 2),
        ('ssd_plugin (lazy Expand)', 2),
    ]
    assert all(r['img_s'] > 0 for r in data)
    assert steps['sync']['checked'] is False and steps['sync']['ours']['ran']

    summary = results['summary']
    assert summary['train_step_amp']['batch'] == 2
    assert summary['train_step_amp']['speedups'] == []  # no AMP row in the dry run
    assert [s['model'] for s in summary['infer']['speedups']] == ['ssdlite']
    assert summary['ssd300_train_img_s_vs_nvidia']['nvidia_img_s'] == 725.0
    assert len(summary['peak_memory_mb']) == 1
    assert len(summary['data_feeds_gpu']) == 2


def test_summary_compares_against_the_goals():
    suite = load_benchmark('gpu_suite')
    settings = suite.plan(dry_run=False)

    def train_row(model, cl, ours, mmdet):
        return dict(
            model=model,
            batch=32,
            amp=True,
            channels_last=cl,
            ours_img_s=ours,
            mmdet_img_s=mmdet,
            speedup=ours / mmdet,
            ours_peak_mb=1.0,
            mmdet_peak_mb=2.0,
        )

    rows = [train_row('ssd300', False, 700.0, 500.0), train_row('ssd300', True, 900.0, 450.0)]
    steps = dict(
        train=dict(
            result=dict(rows=rows + [dict(model='ssd512', batch=32, amp=True, error='oom')])
        ),
        infer=dict(
            result=dict(
                rows=[
                    dict(model='ssd300', batch=32, amp=False, speedup=1.5, agreement=1.0),
                    dict(model='ssd300', batch=1, amp=False, speedup=0.9, agreement=1.0),
                ]
            )
        ),
        data=dict(
            result=dict(rows=[dict(pipeline='ssd_plugin (lazy Expand)', workers=8, img_s=800.0)])
        ),
        sync=dict(result=dict(passed=True)),
    )
    summary = suite.summarize(steps, settings)
    train = summary['train_step_amp']
    assert [s['speedup'] for s in train['speedups']] == [pytest.approx(1.4), pytest.approx(2.0)]
    assert train['met'] is True and train['moonshot_met'] is False
    rows[0]['speedup'] = 1.2  # one setting under 1.3x: the goal is not met
    assert suite.summarize(steps, settings)['train_step_amp']['met'] is False
    assert train['best_vs_best'] == {'ssd300': pytest.approx(900 / 500)}
    assert summary['infer']['met'] is True and summary['infer']['batch'] == 32
    nvidia = summary['ssd300_train_img_s_vs_nvidia']
    assert nvidia['ours_img_s'] == 900.0 and nvidia['ratio'] == pytest.approx(900 / 725)
    assert summary['data_feeds_gpu'] == [
        dict(workers=8, loader_img_s=800.0, train_img_s=900.0, feeds=False)
    ]
    assert summary['loss_without_host_sync'] is True


def test_sync_sites_name_the_line_that_synchronises(monkeypatch):
    steps = load_benchmark('_gpu_steps')
    modes = []
    monkeypatch.setattr(torch.cuda, 'set_sync_debug_mode', modes.append)

    def step():
        for _ in range(2):
            warnings.warn('called a synchronizing CUDA operation', UserWarning, stacklevel=1)
        warnings.warn('unrelated', UserWarning, stacklevel=1)

    sites = steps._sync_sites(step)
    line = step.__code__.co_firstlineno + 2
    assert sites == {f'tests/test_tools/test_gpu_suite.py:{line}': 2}
    assert modes == ['warn', 0]


def test_nms_stand_in_keeps_what_mmcv_keeps(monkeypatch):
    """torchvision's NMS (mmcv's own op where torchvision is missing) behind the
    wrapper that replaces ``mmcv.ops.nms`` for ``batched_nms``: same boxes kept."""
    nms_module = importlib.import_module('mmcv.ops.nms')
    monkeypatch.setattr(nms_module, 'nms', nms_module.nms)  # restored after the test
    check = load_benchmark('_gpu_steps').nms_stand_in_check()
    assert nms_module.nms.__module__.endswith('_gpu_steps')
    assert 0 < check['kept'] < 300
    assert check['same_keep'] is True
    kernel = 'torchvision.ops.nms' if importlib.util.find_spec('torchvision') else 'mmcv.ops.nms'
    assert check['stand_in'].startswith(kernel)


def test_a_step_past_its_limit_is_stopped_and_reported(tmp_path):
    suite = load_benchmark('gpu_suite')
    entry = suite._run_step('train', limit_s=2, dry_run=True, workdir=tmp_path)
    assert entry['status'] == 'timeout' and entry['returncode'] is None
    assert entry['complete'] is False and entry['seconds'] < 20


def _wheel(folder: Path, name: str, version: str) -> None:
    """A pure-Python wheel of module ``name`` (``py3-none-any``) in ``folder``."""
    info = f'{name}-{version}.dist-info'
    files = {
        f'{name}/__init__.py': '',
        f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n',
        f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
        'Tag: py3-none-any\n',
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=')
        record.append(f'{path},sha256={digest.decode()},{len(text.encode())}')
    files[f'{info}/RECORD'] = '\n'.join(record + [f'{info}/RECORD,,']) + '\n'
    with zipfile.ZipFile(folder / f'{name}-{version}-py3-none-any.whl', 'w') as whl:
        for path, text in files.items():
            whl.writestr(path, text)


@pytest.mark.slow
def test_install_goes_into_a_venv_not_a_path_edit(tmp_path):
    """The GPU machine's install step on this machine's Python, with a stand-in wheel and
    an mmcv source archive whose build fails: a virtual environment that sees the base
    Python's packages gets the wheel; mmcv's source tree (stub ops in place of the failed
    build) and this checkout are importable there through a .pth file, and so are the
    base Python's own packages where that Python is itself a virtual environment (the GPU
    machine's python3 is one: numpy was not found in the first run there); the base Python
    gets nothing. The real OpenMMLab imports then fail (exit 4): there are none here."""
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    _wheel(wheels, 'gpu_suite_probe', '0.1')
    source = tmp_path / 'mmcv-2.1.0'
    (source / 'mmcv').mkdir(parents=True)
    (source / 'mmcv' / '__init__.py').write_text("__version__ = '2.1.0'\n")
    (source / 'setup.py').write_text("raise SystemExit('no build here')\n")
    with tarfile.open(wheels / 'mmcv-2.1.0.tar.gz', 'w:gz') as tar:
        tar.add(source, arcname='mmcv-2.1.0')
    venv, mmcv_src, out = tmp_path / 'venv', tmp_path / 'mmcv_src', tmp_path / 'out'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(
        OUT=str(out), PYTHON=sys.executable, VENV=str(venv), WHEELS=str(wheels),
        MMCV_SRC=str(mmcv_src), MMCV_BUILD_LIMIT_S='120',
    )  # fmt: skip
    proc = run_command(['bash', str(TOOLS / 'benchmarks' / 'gpu_suite.sh')], env, 300)
    log = (out / 'gpu_suite.log').read_text()
    assert proc.returncode == 4 and 'the OpenMMLab imports fail' in log, log
    assert f'wheels installed in {venv}' in log and 'stub mmcv._ext' in log, log

    probe = (
        'import importlib.util, gpu_suite_probe, mmcv, mmcv._ext; '
        'print(gpu_suite_probe.__file__, mmcv.__file__, mmcv._ext.MMCV_OPS_STUB, '
        'importlib.util.find_spec("ssd_plugin").origin, importlib.util.find_spec("torch").origin)'
    )
    found = subprocess.run(
        [str(venv / 'bin' / 'python'), '-c', probe],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    probe_file, mmcv_file, stub, plugin, torch_file = found.stdout.split()
    assert probe_file.startswith(f'{venv}/')
    assert Path(mmcv_file) == mmcv_src / 'mmcv' / '__init__.py' and stub == 'True'
    assert Path(plugin) == ROOT / 'ssd_plugin' / '__init__.py'
    assert Path(torch_file) == Path(torch.__file__)  # the base venv's, not in Python's own
    base = [sys.executable, '-c', 'import gpu_suite_probe']
    assert subprocess.run(base, cwd=tmp_path, env=env, capture_output=True).returncode != 0
