"""tools/analysis_tools/default_boxes.py as a user runs it (subprocesses), and its messages."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from default_boxes_test_utils import CONFIG, small_elongated_boxes, write_coco

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'default_boxes.py')


def run(args, cwd=ROOT, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, TOOL] + list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope='module')
def fitted_run(tmp_path_factory):
    """One ``--fit`` run on the small elongated boxes; ``(proc, out_dir, config)``."""
    tmp = tmp_path_factory.mktemp('default_boxes')
    root = tmp / 'data'
    (root / 'annotations').mkdir(parents=True)
    images, boxes = small_elongated_boxes()
    write_coco(str(root / 'annotations' / 'train.json'), images, boxes)
    config = tmp / 'cfg.py'
    config.write_text(CONFIG.format(data_root=str(root) + '/'))
    out = tmp / 'out'
    proc = run([str(config), '--fit', '--out-dir', str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, str(out), str(config)


def test_report_keys_and_files(fitted_run):
    proc, out, _ = fitted_run
    with open(osp.join(out, 'report.json')) as f:
        report = json.load(f)
    for key in (
        'coverage',
        'mean_best_iou',
        'positives_per_gt',
        'per_size',
        'num_gt',
        'fitted_anchor_generator',
    ):
        assert key in report
    for key in ('coverage', 'mean_best_iou', 'positives_per_gt'):
        assert set(report[key]) == {'before', 'after'}
        assert set(report['per_size']['medium'][key]) == {'before', 'after'}
    assert report['num_gt'] == 200  # 40 images x 5 boxes, counted once through RepeatDataset
    assert report['coverage']['before'] == 0.0
    assert report['coverage']['after'] >= 0.95
    assert report['positives_per_gt']['before'] == 1.0  # the forced match alone
    assert report['per_size']['medium']['num_gt'] == 200  # 24 x 48 at the input: 1152 px^2
    # a 24 x 48 box at most 4 px off a stride-8 centre along each axis: always in reach
    assert report['coverage_ceiling'] == 1.0
    assert report['per_size']['medium']['coverage_ceiling'] == 1.0
    assert report['per_size']['small']['coverage_ceiling'] is None
    assert report['fit_floors']['medium'] == 0.0  # the configured boxes cover none
    assert 'every ground truth can reach IoU >= 0.5' in report['ceiling_notes'][0]
    assert report['ceiling_notes'][-1].startswith('fit vs ceiling: coverage')
    gen = report['fitted_anchor_generator']
    assert gen['strides'] == [8, 16, 32] and gen['type'] == 'SSDAnchorGenerator'
    for name in ('best_iou_hist.png', 'gt_shapes.png', 'fitted_config.py'):
        assert osp.getsize(osp.join(out, name)) > 0
    assert 'passes SSDConfigCheckHook' in proc.stdout
    assert "--cfg-options 'model.bbox_head.anchor_generator.min_sizes=[" in proc.stdout
    assert 'Expand' in ' '.join(report['notes'])  # the random transform left out is named


def test_fitted_config_builds_and_trains_the_fitted_boxes(fitted_run):
    from mmengine.config import Config

    from ssd_plugin.engine.hooks.ssd_config_check_hook import SSDConfigCheckHook
    from ssd_plugin.registry import MODELS

    _, out, config = fitted_run
    cfg = Config.fromfile(osp.join(out, 'fitted_config.py'))
    with open(osp.join(out, 'report.json')) as f:
        fitted = json.load(f)['fitted_anchor_generator']
    gen_cfg = cfg.model.bbox_head.anchor_generator
    assert gen_cfg.min_sizes == fitted['min_sizes'] and gen_cfg.ratios == fitted['ratios']
    # everything else is the user's config
    base = Config.fromfile(config)
    assert cfg.train_dataloader == base.train_dataloader
    assert cfg.model.backbone == base.model.backbone
    model = MODELS.build(cfg.model)
    SSDConfigCheckHook().check_feature_levels(model)
    assert model.bbox_head.prior_generator.min_sizes == fitted['min_sizes']


def test_cfg_options_line_reproduces_the_fit(fitted_run, tmp_path):
    proc, out, config = fitted_run
    line = next(ln for ln in proc.stdout.splitlines() if '--cfg-options' in ln).strip()
    import shlex

    proc2 = run([config, '--out-dir', str(tmp_path), '--no-plots'] + shlex.split(line))
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    with open(osp.join(out, 'report.json')) as f:
        fitted = json.load(f)
    with open(osp.join(tmp_path, 'report.json')) as f:
        again = json.load(f)
    assert again['coverage']['before'] == fitted['coverage']['after']
    assert 'after' not in again['coverage'] and again['fitted_anchor_generator'] is None


def test_ssd300_coco_without_coco_says_what_is_missing(tmp_path):
    proc = run([osp.join(ROOT, 'configs', 'ssd300_coco.py')], cwd=str(tmp_path))
    assert proc.returncode == 2
    assert 'annotations are missing' in proc.stderr
    assert "data_root 'data/coco/' does not exist" in proc.stderr
    assert 'cocodataset.org' in proc.stderr  # how to get it
    assert 'images are not needed' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_bad_inputs(make_config, tmp_path):
    images, _ = small_elongated_boxes(2)
    empty = make_config(images, [])
    proc = run([empty, '--out-dir', str(tmp_path / 'a')])
    assert proc.returncode == 2
    assert 'no ground-truth box to analyse' in proc.stderr and 'train.json' in proc.stderr
    no_ssd = (
        "\nmodel['bbox_head']['anchor_generator'] = dict(type='mmdet.AnchorGenerator', "
        'strides=[8], ratios=[1.0], scales=[4])\n'
    )
    random_resize = (
        "\ntrain_dataloader['dataset']['dataset']['pipeline'][3] = dict("
        "type='mmdet.RandomResize', scale=[(96, 96), (160, 160)])\n"
    )
    for extra, messages in (
        (
            no_ssd,
            ("model.bbox_head.anchor_generator is 'mmdet.AnchorGenerator'", 'optimize_anchors'),
        ),
        (random_resize, ('pipeline[3] is a RandomResize',)),
    ):
        proc = run([make_config(images, [(0, 1, 1, 40, 40)], extra=extra)])
        assert proc.returncode == 2
        assert all(m in proc.stderr for m in messages), proc.stderr
    proc = run([empty, '--max-ratios', '2'])
    assert proc.returncode == 2 and '--max-ratios applies to --fit only' in proc.stderr
    proc = run([str(tmp_path / 'nope.py')])
    assert proc.returncode == 2 and 'Config file not found' in proc.stderr
    # a coverage floor above the grid's ceiling: refused, with the ceiling
    images, boxes = _tiny_boxes(4)
    tiny = make_config(images, boxes)
    proc = run([tiny, '--fit', '--min-coverage', 'small=0.9', '--out-dir', str(tmp_path / 'b')])
    assert proc.returncode == 2
    assert "cannot keep the size bins' coverage floors: small >= 0.9000" in proc.stderr
    assert 'ceiling' in proc.stderr and 'Traceback' not in proc.stderr
    proc = run([tiny, '--fit', '--min-coverage', 'small:0.9'])
    assert proc.returncode == 2 and 'give BIN=SHARE' in proc.stderr


def test_fit_that_cannot_change_any_level(make_config, tmp_path):
    # Boxes equal to the configured 64 x 64 squares of the stride-32 level (Resize halves
    # the 256 px images), at its grid centres: nothing can score better.
    images = [(256, 256)] * 4
    boxes = [
        (i, 2 * (16 + 32 * c) - 64, 2 * (16 + 32 * c) - 64, 128, 128)
        for i in range(4)
        for c in range(1, 3)
    ]
    cfg = make_config(
        images,
        boxes,
        extra=(
            "\nmodel['bbox_head']['anchor_generator'].update(min_sizes=[64, 64, 64], "
            'max_sizes=[64, 64, 64])\n'
        ),
    )
    out = tmp_path / 'out'
    proc = run([cfg, '--fit', '--out-dir', str(out), '--no-plots'])
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '--fit cannot change any level' in proc.stderr
    assert not osp.exists(out / 'fitted_config.py')
    with open(out / 'report.json') as f:
        assert json.load(f)['coverage'] == {'before': 1.0}


def _tiny_boxes(num_images: int = 12, seed: int = 0):
    """256 x 256 images of 14 x 14 px boxes: 7 px at the 128 px input, where the stride-8
    grid leaves many out of reach; 14 px at 256, where it reaches nearly all."""
    import numpy as np

    rng = np.random.default_rng(seed)
    boxes = [
        (i, float(x), float(y), 14.0, 14.0)
        for i in range(num_images)
        for x, y in rng.uniform(0, 240, (10, 2))
    ]
    return [(256, 256)] * num_images, boxes


@pytest.mark.slow
def test_input_sizes_report_and_recommended_config(make_config, tmp_path):
    from mmengine.config import Config

    images, boxes = _tiny_boxes()
    cfg = make_config(images, boxes)
    out = tmp_path / 'out'
    proc = run([cfg, '--input-sizes', '192', '256', '--target', '0.9', '--out-dir', str(out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / 'report.json') as f:
        report = json.load(f)
    entries = report['input_sizes']
    assert [e['input_size'] for e in entries] == [128, 192, 256]
    for e in entries:
        for key in ('input_size', 'coverage_ceiling', 'coverage', 'num_priors', 'relative_flops'):
            assert key in e
        assert e['coverage'] <= e['coverage_ceiling'] + 1e-9
    first = entries[0]
    assert first['relative_flops'] == 1.0
    assert first['coverage_ceiling'] < 0.9  # 7 px boxes up to 4 px off the stride-8 centres
    assert entries[2]['relative_flops'] == pytest.approx(4.0, rel=0.05)  # 2x the side
    # stride-8/16/32 maps: 16^2 + 8^2 + 4^2 cells of 4 boxes at 128, 4x as many at 256
    assert first['num_priors'] == 4 * (256 + 64 + 16)
    assert entries[2]['num_priors'] == 4 * first['num_priors']
    size = report['recommended_input_size']
    reaching = [e['input_size'] for e in entries if e['coverage'] >= 0.9]
    assert size == (
        min(reaching) if reaching else max(entries, key=lambda e: e['coverage'])['input_size']
    )
    assert size != 128
    written = Config.fromfile(str(out / 'fitted_config.py'))
    gen = written.model.bbox_head.anchor_generator
    assert gen.input_size == size
    resize = written.train_dataloader.dataset.dataset.pipeline[3]
    assert tuple(resize.scale) == (size, size)
    assert 'passes SSDConfigCheckHook' in proc.stdout
    assert osp.exists(out / 'fitted_config_128.py') and osp.exists(out / f'fitted_config_{size}.py')
    fine = report['finer_level']
    assert fine['stride'] == 4 and fine['available']  # MobileNetV2 computes stride 4
    assert fine['coverage_ceiling'] >= first['coverage_ceiling']
    assert 'recommended input size' in proc.stdout
