"""The non-editable install: configs and tools shipped in ``ssd_plugin/.mim``.

A wheel is built from a copy of the source tree and installed (``pip install
--target``) into the site-packages of a fresh virtual environment. That
environment sees the project's dependencies (torch, mmengine, mmdet, ...)
through a plain path line in a ``.pth`` file, so the ``.pth`` files of the
project's environment are not run: its editable ``ssd_plugin`` (a ``.pth``
finder) is invisible there. Every check runs in that interpreter, from a
folder outside the repository, without ``PYTHONPATH``, and first asserts that
``ssd_plugin`` is imported from the fresh site-packages.

What it proves: a user who runs ``pip install .`` gets the configs (with
``_base_``) and tools inside the package; ``ssd_plugin::NAME`` works in
``Config.fromfile`` and in ``_base_``; the shipped ``.mim/tools/train.py`` and
``test.py`` run (through ``mim train`` / ``mim test`` when openmim is
installed, else the commands mim runs). What it does not: the dependency
resolution of a networked ``pip install .``.
"""

import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SKIP = shutil.ignore_patterns(
    '.venv', '.git', 'work_dirs', 'data', 'outputs', 'build', 'dist', '.mim', '__pycache__',
    '*.egg-info', '.pytest_cache', '.ruff_cache', '*.pth', '*.pyc',
)  # fmt: skip


def _run(cmd, cwd, timeout=300, env=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, (
        f'{cmd}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    )
    return proc


@pytest.fixture(scope='module')
def fresh(tmp_path_factory):
    """(python, site-packages, env, work folder) of a fresh environment with the wheel."""
    tmp = tmp_path_factory.mktemp('packaging')
    src, dist, venv = tmp / 'src', tmp / 'dist', tmp / 'venv'
    shutil.copytree(ROOT, src, ignore=SKIP)
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
          '--no-index', '-w', str(dist), str(src)], cwd=str(tmp))  # fmt: skip
    (wheel,) = dist.glob('ssd_plugin-*.whl')
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=str(tmp))
    python = str(venv / 'bin' / 'python')
    site = _run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'], cwd=str(tmp)
    ).stdout.strip()
    _run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
          '--target', site, str(wheel)], cwd=str(tmp))  # fmt: skip
    deps = {sysconfig.get_path('purelib'), sysconfig.get_path('platlib')}
    # Plain path lines: the project environment's own .pth files are not run.
    with open(osp.join(site, '_project_deps.pth'), 'w') as f:
        f.write('\n'.join(sorted(deps)) + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    env['OMP_NUM_THREADS'] = '1'
    work = tmp / 'user'
    work.mkdir()
    return dict(python=python, site=site, env=env, work=str(work), tmp=tmp)


def _python(fresh, code: str, timeout=300):
    """Run ``code`` in the fresh environment from the user folder; returns its last stdout line."""
    proc = _run(
        [fresh['python'], '-c', textwrap.dedent(code)], fresh['work'], timeout, fresh['env']
    )
    return proc.stdout.strip().splitlines()[-1]


def test_wheel_ships_configs_tools_and_startup_hook(fresh):
    mim = osp.join(fresh['site'], 'ssd_plugin', '.mim')
    for rel in ('configs/ssd300_coco.py', 'configs/_base_/models/ssd300.py',
                'configs/demo/ssd_cspdarknet_synthetic_cpu.py', 'configs/metafile.yml',
                'tools/train.py', 'tools/test.py', 'tools/analysis_tools/get_flops.py',
                'model-index.yml'):  # fmt: skip
        assert osp.isfile(osp.join(mim, rel)), rel
    # The packages beside the tools, which the shipped tools import from their own folder.
    for package in (
        'synthetic_data',
        'ssd_demo',
        'benchmarks',
        'analysis_tools/default_box_analysis',
    ):
        ours = sorted(f for f in os.listdir(osp.join(ROOT, 'tools', package)) if f.endswith('.py'))
        assert '__init__.py' in ours
        shipped = os.listdir(osp.join(mim, 'tools', package))
        assert set(ours) <= set(shipped), (package, ours, shipped)
    assert not osp.islink(osp.join(mim, 'configs'))
    ours = sorted(
        osp.relpath(osp.join(d, f), osp.join(ROOT, 'configs'))
        for d, _, fs in os.walk(osp.join(ROOT, 'configs'))
        for f in fs
        if f.endswith(('.py', '.yml'))
    )
    shipped = sorted(
        osp.relpath(osp.join(d, f), osp.join(mim, 'configs'))
        for d, _, fs in os.walk(osp.join(mim, 'configs'))
        for f in fs
        if '__pycache__' not in d  # pip's bytecode of the installed files
    )
    assert shipped == ours  # the whole tree, _base_ included, nothing else
    assert osp.isfile(osp.join(fresh['site'], 'ssd_plugin_mim.pth'))


def test_pkg_prefix_resolves_outside_the_repo(fresh):
    out = _python(
        fresh,
        """
        import json, os, sys
        before = sorted(m for m in ('mmengine', 'torch', 'ssd_plugin') if m in sys.modules)
        from mmengine.config import Config
        # resolved by the start-up hook: ssd_plugin is imported only afterwards
        # (by the config's custom_imports, after parsing)
        cfg = Config.fromfile('ssd_plugin::ssd300_coco.py')
        base = Config.fromfile('ssd_plugin::_base_/models/ssd300.py')
        import ssd_plugin
        try:
            Config.fromfile('ssd_plugin::no_such_config.py')
            missing = ''
        except FileNotFoundError as err:
            missing = str(err)
        print(json.dumps(dict(
            before=before, package=ssd_plugin.__file__, cwd=os.getcwd(),
            head=cfg.model.bbox_head.type, filename=cfg.filename,
            base_head=base.model.bbox_head.type, missing=missing)))
        """,
    )
    res = json.loads(out)
    assert res['before'] == []  # the start-up hook imports nothing heavy
    assert res['package'].startswith(fresh['site']), res['package']  # not the repo's
    assert not res['cwd'].startswith(ROOT)
    assert res['head'] == res['base_head'] == 'ssd_plugin.SSDHead'
    assert res['filename'] == osp.join(
        fresh['site'], 'ssd_plugin', '.mim', 'configs', 'ssd300_coco.py'
    )
    assert 'no_such_config.py' in res['missing'] and '.mim' in res['missing']


@pytest.mark.slow
def test_user_config_inheriting_pkg_config_builds(fresh):
    user_cfg = osp.join(fresh['work'], 'my_ssd.py')
    with open(user_cfg, 'w') as f:
        f.write(
            "_base_ = ['ssd_plugin::ssd300_coco.py']\nmodel = dict(bbox_head=dict(num_classes=3))\n"
        )
    out = _python(
        fresh,
        f"""
        import json
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmdet.registry import MODELS
        cfg = Config.fromfile({user_cfg!r})
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        head = type(model.bbox_head)
        print(json.dumps(dict(module=head.__module__, classes=model.bbox_head.num_classes,
                              anchors=type(model.bbox_head.prior_generator).__module__)))
        """,
    )
    res = json.loads(out)
    assert res['module'].startswith('ssd_plugin.'), res
    assert res['anchors'].startswith('ssd_plugin.'), res
    assert res['classes'] == 3


def _has_mim(fresh) -> bool:
    proc = subprocess.run(
        [fresh['python'], '-c', 'import mim'], cwd=fresh['work'], env=fresh['env'],
        capture_output=True,
    )  # fmt: skip
    return proc.returncode == 0


@pytest.mark.slow
def test_shipped_train_and_test_tools_run(fresh):
    """``mim train/test ssd_plugin NAME`` (or, without openmim, the commands mim runs), on
    data from the shipped ``generate_dataset.py``, which imports the generator beside it."""
    mim_root = osp.join(fresh['site'], 'ssd_plugin', '.mim')
    data = osp.join(str(fresh['tmp']), 'data') + '/'
    generate = [fresh['python'], osp.join(mim_root, 'tools', 'generate_dataset.py'), '--out', data]
    generate += ['--num-train', '8', '--num-val', '4', '--seed', '1', '--workers', '1']
    _run(generate, fresh['work'], env=fresh['env'])
    proc = _run(  # the demo imports its package beside it (the recipe runs elsewhere)
        [fresh['python'], osp.join(mim_root, 'tools', 'demo.py'), '--help'],
        fresh['work'],
        env=fresh['env'],
    )
    assert '--time-budget' in proc.stdout
    default_boxes = osp.join(mim_root, 'tools', 'analysis_tools', 'default_boxes.py')
    proc = _run([fresh['python'], default_boxes, '--help'], fresh['work'], env=fresh['env'])
    assert '--input-sizes' in proc.stdout  # it imports default_box_analysis beside it
    work_dir = osp.join(fresh['work'], 'work_dirs', 'demo')
    name = 'ssd_cspdarknet_synthetic_cpu.py'
    ann = data + 'annotations/instances_val.json'
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
    ]  # fmt: skip
    if _has_mim(fresh):
        train = [fresh['python'], '-m', 'mim', 'train', 'ssd_plugin', name, '--gpus', '0']
        test = [fresh['python'], '-m', 'mim', 'test', 'ssd_plugin', name, '--gpus', '0']
    else:
        cfg = osp.join(mim_root, 'configs', 'demo', name)
        train = [
            fresh['python'],
            osp.join(mim_root, 'tools', 'train.py'),
            cfg,
            '--launcher',
            'none',
        ]
        test = [fresh['python'], osp.join(mim_root, 'tools', 'test.py'), cfg]
    proc = _run(train + ['--work-dir', work_dir] + options, fresh['work'], env=fresh['env'])
    if _has_mim(fresh):  # mim found the config by name and ran .mim/tools/train.py
        assert 'Training command is' in proc.stdout and mim_root in proc.stdout, proc.stdout[-2000:]
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    if _has_mim(fresh):
        test += ['--checkpoint', ckpt, '--launcher', 'none']
    else:
        test += [ckpt, '--launcher', 'none']
    proc = _run(test + ['--work-dir', work_dir] + options, fresh['work'], env=fresh['env'])
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


# ---- the ssd_plugin:: hook itself, in this (editable) environment ----------


def test_split_prefix_names_malformed_configs():
    import _ssd_plugin_mim

    assert _ssd_plugin_mim.split_prefix('ssd_plugin::a/b.py') == ('ssd_plugin', 'a/b.py')
    for bad in ('ssd_plugin::', 'ssd_plugin::a::b.py'):
        with pytest.raises(ValueError, match='ssd_plugin::<config path'):
            _ssd_plugin_mim.split_prefix(bad)


def test_prefix_resolves_here_and_leaves_other_packages_to_mmengine():
    from mmengine.config import Config

    cfg = Config.fromfile('ssd_plugin::ssd300_coco.py')
    assert osp.realpath(cfg.filename).endswith(osp.join('configs', 'ssd300_coco.py'))
    assert cfg.model.bbox_head.type == 'ssd_plugin.SSDHead'
    path, scope = Config._get_cfg_path('ssd_plugin::_base_/models/ssd300.py', '')
    assert scope == 'ssd_plugin' and osp.isfile(path)
    path, scope = Config._get_cfg_path('mmdet::ssd/ssd300_coco.py', '')
    assert scope == 'mmdet' and osp.isfile(path) and '.mim' in path
    with pytest.raises(FileNotFoundError, match="no config 'nope.py'.*ssd300_coco.py"):
        Config.fromfile('ssd_plugin::nope.py')
