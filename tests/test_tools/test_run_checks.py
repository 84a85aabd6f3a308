"""The run checks of ``ssd_plugin.apis``: the messages the tools give for missing things."""

import copy
import os
import os.path as osp

import mmdet
import pytest
from mmengine.config import Config
from tools_test_utils import load_tool

from ssd_plugin.apis.check_run import check_run
from ssd_plugin.apis.dataset_checks import (
    dataset_problems,
    invalid_json_error,
    is_json_error,
    json_problem,
)
from ssd_plugin.apis.device import adapt_to_device, enable_amp, init_cpu_distributed
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import load_tool_config
from ssd_plugin.apis.weights import find_resume_checkpoint, locate_weight, weight_problems
from ssd_plugin.fileio import checkpoint_problem

MMDET_CONFIGS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')


def coco_cfg(root: str) -> dict:
    """A train/val/test config shaped like mmdet's ssd300_coco (data part only)."""
    leaf = dict(
        type='CocoDataset',
        data_root=root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
    )
    val = dict(
        leaf, ann_file='annotations/instances_val2017.json', data_prefix=dict(img='val2017/')
    )
    return dict(
        model=dict(backbone=dict(type='SSDVGG')),
        train_dataloader=dict(dataset=dict(type='RepeatDataset', times=5, dataset=leaf)),
        val_dataloader=dict(dataset=val),
        test_dataloader=dict(dataset=copy.deepcopy(val)),
        val_cfg=dict(type='ValLoop'),
        val_evaluator=dict(type='CocoMetric', ann_file=root + 'annotations/instances_val2017.json'),
        test_evaluator=dict(
            type='CocoMetric', ann_file=root + 'annotations/instances_val2017.json'
        ),
    )


def make_coco_tree(root, train_ann=True, train_imgs=True) -> None:
    os.makedirs(osp.join(root, 'annotations'))
    os.makedirs(osp.join(root, 'val2017'))
    if train_imgs:
        os.makedirs(osp.join(root, 'train2017'))
    names = ['instances_val2017.json'] + (['instances_train2017.json'] if train_ann else [])
    for name in names:
        with open(osp.join(root, 'annotations', name), 'w') as f:
            f.write('{}')


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """No downloaded weights: torch hub and mmengine caches point to empty dirs, and a
    download fails at once (as offline; tests/test_tools/test_pretrained_weights.py
    tries a real one)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))

    def offline(url, dst, progress=True):
        raise OSError(f'<urlopen error [Errno -3] Temporary failure in name resolution> {url}')

    monkeypatch.setattr('torch.hub.download_url_to_file', offline)
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def test_missing_data_root_names_config_path_howto_and_override(tmp_path):
    cfg = coco_cfg(str(tmp_path / 'nowhere') + '/')
    with pytest.raises(RunCheckError) as info:
        check_run(cfg, 'configs/my_ssd.py', 'train')
    msg = str(info.value)
    assert 'configs/my_ssd.py' in msg and 'Dataset not found' in msg
    assert f"data_root '{tmp_path / 'nowhere'}/' does not exist" in msg
    assert 'cocodataset.org' in msg and 'data/coco/' in msg and 'instances_train2017.json' in msg
    assert '--cfg-options train_dataloader.dataset.dataset.data_root=/path/' in msg
    assert 'val_dataloader.dataset.data_root=/path/' in msg and '`data_root = ...`' in msg
    assert 'val_evaluator.ann_file' in msg
    assert 'test_dataloader' not in msg  # a training run does not use it


def test_missing_ann_file_and_image_dir_are_named(tmp_path):
    root = str(tmp_path / 'coco') + '/'
    make_coco_tree(root, train_ann=False, train_imgs=False)
    problems, hints = dataset_problems(coco_cfg(root), ['train_dataloader', 'val_dataloader'])
    assert len(problems) == 2, problems
    assert f"ann_file '{root}annotations/instances_train2017.json' does not exist" in problems[0]
    assert f"data_prefix.img '{root}train2017/' does not exist" in problems[1]
    assert any('cocodataset.org' in h for h in hints)


def test_complete_data_passes_and_modes_pick_their_loaders(tmp_path):
    root = str(tmp_path / 'coco') + '/'
    make_coco_tree(root)
    check_run(coco_cfg(root), 'cfg.py', 'train')
    check_run(coco_cfg(root), 'cfg.py', 'test')
    cfg = coco_cfg(root)
    cfg['test_dataloader']['dataset']['data_root'] = str(tmp_path / 'gone') + '/'
    check_run(cfg, 'cfg.py', 'train')  # the test loader is not used in training
    check_run(cfg, 'cfg.py', 'infer')
    with pytest.raises(RunCheckError, match='test_dataloader.dataset'):
        check_run(cfg, 'cfg.py', 'test')


def test_real_mmdet_voc_config_walks_repeat_and_concat(tmp_path, monkeypatch, empty_cache):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(osp.join(MMDET_CONFIGS, 'pascal_voc', 'ssd300_voc0712.py'))
    with pytest.raises(RunCheckError) as info:
        check_run(cfg, 'ssd300_voc0712.py', 'train')
    msg = str(info.value)
    assert 'host.robots.ox.ac.uk/pascal/VOC' in msg and 'VOCdevkit' in msg
    assert 'train_dataloader.dataset.dataset.datasets.1.data_root=/path/to/data/' in msg
    assert 'open-mmlab://vgg16_caffe' in msg  # and the weights section


def test_missing_pretrained_weight_message_and_cache_hit(empty_cache):
    cfg = dict(
        model=dict(
            backbone=dict(
                type='SSDVGG',
                init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://vgg16_caffe'),
            )
        )
    )
    problems = weight_problems(cfg)
    assert len(problems) == 1
    text = problems[0]
    expected = empty_cache / 'vgg16_caffe-292e1171.pth'
    assert 'https://download.openmmlab.com/pretrain/third_party/vgg16_caffe-292e1171.pth' in text
    assert str(expected) in text and 'could not be downloaded' in text
    assert 'internet' not in text  # no claim about the user's network
    assert '--cfg-options model.backbone.init_cfg=None' in text
    assert '--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth' in text
    with pytest.raises(RunCheckError, match='Pretrained weights not available'):
        check_run(cfg, 'cfg.py', 'train')
    check_run(cfg, 'cfg.py', 'infer')  # inference loads a checkpoint, not pretrained weights
    with pytest.raises(RunCheckError, match='test_dataloader is not set') as info:
        check_run(cfg, 'cfg.py', 'test')
    assert 'Pretrained' not in str(info.value) and 'How to get' not in str(info.value)
    expected.parent.mkdir(parents=True, exist_ok=True)
    expected.write_bytes(b'weights')
    assert weight_problems(cfg) == []


def test_weight_schemes_and_local_paths(tmp_path, empty_cache):
    url, path, error = locate_weight('torchvision://resnet50')
    assert url.startswith('https://download.pytorch.org/models/resnet50')
    assert path == str(empty_cache / osp.basename(url)) and error is None
    assert locate_weight('open-mmlab://no_such_model')[2] is not None
    assert locate_weight('s3://bucket/w.pth') == (None, None, None)  # cannot be checked
    local = tmp_path / 'w.pth'
    cfg = dict(
        model=dict(
            neck=dict(
                init_cfg=[dict(type='Xavier'), dict(type='Pretrained', checkpoint=str(local))]
            )
        ),
        load_from='https://x.org/m/ssd.pth',
    )
    problems = weight_problems(cfg)
    assert len(problems) == 2
    assert f'file not found: {local}' in problems[0] and 'model.neck.init_cfg.1=None' in problems[0]
    assert 'load_from=None' in problems[1] and str(empty_cache / 'ssd.pth') in problems[1]
    local.write_bytes(b'w')
    assert len(weight_problems(cfg)) == 1
    assert weight_problems(cfg, include_load_from=False) == []


def test_model_zoo_names_follow_mmengines_tables(tmp_path, empty_cache):
    """The user's $MMENGINE_HOME/open_mmlab.json, mmengine's deprecated names and mmcls://."""
    home = tmp_path / 'mmengine_home'
    home.mkdir()
    (home / 'open_mmlab.json').write_text(
        '{"my_net": "https://x.org/my_net-1.pth", "local_net": "nets/local.pth"}'
    )
    assert locate_weight('open-mmlab://my_net') == (
        'https://x.org/my_net-1.pth',
        str(empty_cache / 'my_net-1.pth'),
        None,
    )
    assert locate_weight('openmmlab://local_net') == (None, str(home / 'nets/local.pth'), None)
    # mmengine's loader reads resnet50_caffe as detectron/resnet50_caffe
    url = 'https://download.openmmlab.com/pretrain/third_party/resnet50_caffe-788b5fa3.pth'
    assert locate_weight('open-mmlab://resnet50_caffe')[0] == url
    url, path, error = locate_weight('mmcls://vgg16')
    assert url.startswith('https://download.openmmlab.com/mmclassification/v0/vgg/vgg16_')
    assert path == str(empty_cache / osp.basename(url)) and error is None
    assert 'not a known model name' in locate_weight('mmcls://no_such_model')[2]


def test_checkpoints_given_on_the_command_line(tmp_path, empty_cache):
    missing = str(tmp_path / 'epoch_12.pth')
    with pytest.raises(RunCheckError, match='Checkpoint not found or not usable') as info:
        check_run({}, 'cfg.py', 'infer', checkpoints=[('checkpoint', missing)])
    assert missing in str(info.value)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    import torch

    torch.save({'meta': {}}, str(work_dir / 'iter_3.pth'))
    cfg = dict(resume=True, load_from=missing, work_dir=str(work_dir))
    with pytest.raises(RunCheckError, match='resume checkpoint not found') as info:
        check_run(cfg, 'cfg.py', 'train')
    message = str(info.value)
    assert 'Resume checkpoint not usable' in message and 'Pretrained weights' not in message
    assert f'Intact checkpoints in {work_dir}: {work_dir / "iter_3.pth"}' in message
    assert '--resume without a path' in message


def test_adapt_to_device_switches_to_gloo_unless_explicit():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert adapt_to_device(cfg, 'none', cuda=False) == []  # not distributed: untouched
    assert adapt_to_device(cfg, 'pytorch', cuda=True) == []
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    notes = adapt_to_device(cfg, 'pytorch', cuda=False)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo' and "'gloo'" in notes[0]
    assert (
        cfg.model_wrapper_cfg.device_ids is None
        and cfg.model_wrapper_cfg.broadcast_buffers is False
    )
    kept = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    adapt_to_device(kept, 'pytorch', ['env_cfg.dist_cfg.backend'], cuda=False)
    assert kept.env_cfg.dist_cfg.backend == 'nccl'
    bare = Config(dict())
    adapt_to_device(bare, 'pytorch', cuda=False)
    assert bare.env_cfg.dist_cfg.backend == 'gloo'


def test_amp_and_launchers_on_cpu_fail_clearly():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    with pytest.raises(RunCheckError, match='needs native bfloat16'):
        enable_amp(cfg, accelerator=False, cpu_bf16=False)
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # unchanged on error
    assert 'CPUAutocastOptimWrapper' in enable_amp(cfg, accelerator=False, cpu_bf16=True)
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    assert 'AmpOptimWrapper' in enable_amp(cfg, accelerator=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert init_cpu_distributed(cfg, 'none', cuda=False) is None
    with pytest.raises(RunCheckError, match='tools/dist_train.sh'):
        init_cpu_distributed(cfg, 'slurm', cuda=False)


def test_tools_exit_2_with_message_not_traceback(
    tmp_path, tiny_config, capsys, empty_cache, monkeypatch
):
    import ssd_plugin.engine

    # --amp on a CPU without native bfloat16 (this machine may have it).
    monkeypatch.setattr(ssd_plugin.engine, 'cpu_has_native_bf16', lambda: False)
    train, test, infer = load_tool('train'), load_tool('test'), load_tool('infer')
    ckpt = str(tmp_path / 'none.pth')
    cases = [
        (train, [str(tmp_path / 'no_config.py')], 'Config file not found'),
        (
            train,
            [
                tiny_config,
                '--cfg-options',
                f'train_dataloader.dataset.dataset.data_root={tmp_path}/x/',
            ],
            'train_dataloader.dataset.dataset.data_root=/path/to/data/',
        ),
        (train, [tiny_config, '--amp'], '--amp on CPU needs native bfloat16'),
        (train, [tiny_config, '--resume', ckpt], f'resume checkpoint not found: {ckpt}'),
        (test, [tiny_config, ckpt], f'checkpoint not found: {ckpt}'),
        (infer, [str(tmp_path / 'nope.jpg'), tiny_config, ckpt], 'Input not found'),
    ]
    for tool, argv, expected in cases:
        assert tool.main(argv + ['--work-dir', str(tmp_path / 'w')] * (tool is not infer)) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and expected in err, (argv, err)


def test_resume_skips_a_truncated_checkpoint(tmp_path):
    import torch

    good, cut = tmp_path / 'iter_3.pth', tmp_path / 'iter_6.pth'
    torch.save({'meta': {'iter': 3}}, str(good))
    torch.save({'meta': {'iter': 6}, 'pad': torch.zeros(1000)}, str(cut))
    cut.write_bytes(cut.read_bytes()[:-300])  # killed mid-save
    assert checkpoint_problem(str(good)) is None
    assert checkpoint_problem(str(cut)) is not None
    record = tmp_path / 'last_checkpoint'
    record.write_text(str(cut))
    path, note = find_resume_checkpoint(str(tmp_path))
    assert path == str(good) and 'iter_6.pth: truncated or not a torch checkpoint' in note
    assert f'resuming from the newest intact checkpoint {good}' in note
    record.write_text(str(good))
    assert find_resume_checkpoint(str(good.parent)) == (str(good), None)
    good.unlink()
    record.write_text(str(cut))
    path, note = find_resume_checkpoint(str(tmp_path))
    assert path is None and 'no intact checkpoint' in note
    assert find_resume_checkpoint(str(tmp_path / 'none')) == (None, None)

    cfg = Config(dict(resume=True, load_from=str(cut), work_dir=str(tmp_path)))
    with pytest.raises(RunCheckError, match=r'iter_6.pth: truncated') as info:
        check_run(cfg, 'cfg.py', 'train')
    assert 'Pass one of them' not in str(info.value)  # none is listed
    assert 'holds no intact checkpoint' in str(info.value)


def test_bit_flipped_checkpoint_is_passed_over_on_resume_and_refused_by_the_tools(
    tmp_path, tiny_config, tiny_data, capsys
):
    import torch
    from checkpoint_test_utils import flip_bit_in_checkpoint

    older, newest = tmp_path / 'iter_3.pth', tmp_path / 'iter_6.pth'
    for path, it in ((older, 3), (newest, 6)):
        torch.save({'meta': {'iter': it}, 'state_dict': {'w': torch.ones(64)}}, str(path))
    os.utime(older, (1, 1))  # older by its time too
    flip_bit_in_checkpoint(newest)
    (tmp_path / 'last_checkpoint').write_text(str(newest))
    path, note = find_resume_checkpoint(str(tmp_path))
    assert path == str(older), note
    assert (
        f'names {newest}: corrupt: record' in note and f'newest intact checkpoint {older}' in note
    )

    cfg = Config(dict(resume=True, load_from=str(newest), work_dir=str(tmp_path)))
    with pytest.raises(RunCheckError, match='does not match its CRC-32') as info:
        check_run(cfg, 'cfg.py', 'train')
    assert f'Intact checkpoints in {tmp_path}: {older}' in str(info.value)
    for tool, argv in (
        ('test', [tiny_config, str(newest), '--work-dir', str(tmp_path / 'w')]),
        ('infer', [tiny_data + 'val', tiny_config, str(newest)]),
        ('export_onnx', [tiny_config, str(newest), '--out', str(tmp_path / 'x.onnx')]),
    ):
        assert load_tool(tool).main(argv) == 2, tool
        err = capsys.readouterr().err
        assert f'{newest}: corrupt: record' in err and 'CRC-32' in err, (tool, err)


def test_annotation_file_that_is_not_json_is_named_with_the_position(tmp_path, tiny_config):
    from tools_test_utils import run_tool

    broken = tmp_path / 'broken.json'
    broken.write_text('{"images": [], "annotations": [,]}')
    assert json_problem(str(broken)) == (
        f'{broken} is not valid JSON: Expecting value at line 1 column 32 (char 31 of 34)'
    )
    cfg = dict(
        test_dataloader=dict(dataset=dict(data_root=str(tmp_path), ann_file='broken.json')),
        test_evaluator=dict(type='CocoMetric', ann_file=str(broken)),
    )
    error = str(invalid_json_error(cfg, 'cfg.py', 'test'))
    # the file is parsed once and named under each key that reads it
    assert f'test_dataloader.dataset.ann_file: {broken} is not valid JSON' in error
    assert f'test_evaluator.ann_file: {broken} is not valid JSON' in error
    assert invalid_json_error(dict(test_dataloader={}), 'cfg.py', 'test') is None
    assert is_json_error(ValueError('x')) is False

    # The real tool, with mmdet's CocoDataset (whose error names no file): exit 2, the file named.
    proc = run_tool(
        [
            'train.py',
            tiny_config,
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            f'train_dataloader.dataset.dataset.ann_file={broken}',
        ]  # fmt: skip
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f'{broken} is not valid JSON: Expecting value at line 1 column 32' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_browse_dataset_without_data_gives_the_train_message(tmp_path, tiny_config):
    from tools_test_utils import run_tool

    proc = run_tool(
        [
            'browse_dataset.py',
            tiny_config,
            '--output-dir',
            str(tmp_path),
            '--cfg-options',
            f'train_dataloader.dataset.dataset.data_root={tmp_path}/x/',
        ]  # fmt: skip
    )
    assert proc.returncode == 2 and proc.stderr.startswith('error: '), proc.stderr[-3000:]
    for part in ('Dataset not found', f"data_root '{tmp_path}/x/' does not exist",
                 'train_dataloader.dataset.dataset.data_root=/path/to/data/'):  # fmt: skip
        assert part in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow  # a holder process that imports ssd_plugin
def test_work_dir_held_by_a_live_run_is_refused_naming_its_pid_and_host(
    tmp_path, tiny_config, capsys
):
    import socket
    import subprocess
    import sys

    from ssd_plugin.apis.work_dir_lock import LOCK_NAME, hold_work_dir

    work_dir = tmp_path / 'work'
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\n'
         'from ssd_plugin.apis.work_dir_lock import hold_work_dir\n'
         f'with hold_work_dir({str(work_dir)!r}):\n'
         '    print("held", flush=True); time.sleep(60)'],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == 'held'
        with pytest.raises(RunCheckError) as info:
            with hold_work_dir(str(work_dir)):
                pass
        msg = str(info.value)
        assert f'pid {holder.pid} on host {socket.gethostname()}' in msg and '--work-dir' in msg
        train = load_tool('train')
        assert train.main([tiny_config, '--work-dir', str(work_dir)]) == 2
        err = capsys.readouterr().err
        assert f'is in use by another training run: pid {holder.pid}' in err, err
        assert not list(work_dir.glob('*.pth'))
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone (killed): the lock went with it.
    with hold_work_dir(str(work_dir)):
        assert f'pid {os.getpid()} ' in (work_dir / LOCK_NAME).read_text()


def test_misspelled_hook_keys_are_refused_before_anything_is_built(tmp_path, tiny_config, capsys):
    cfg = Config.fromfile(tiny_config)
    cfg.merge_from_dict(
        {'default_hooks.checkpoint.intervall': 1, 'default_hooks.logger.intreval': 5}
    )
    cfg.custom_hooks = [
        dict(type='InvalidLossGuardHook', max_consecutiv=2),
        dict(type='DetVisualizationHook', _scope_='mmdet', draw=False),  # from a mmdet:: base
    ]
    from ssd_plugin.apis.check_run import hook_problems

    problems = hook_problems(cfg)
    assert len(problems) == 3, problems
    text = '\n'.join(problems)
    for expected in (
        "default_hooks.checkpoint (CheckpointHook): unknown key 'intervall' (did you mean "
        "'interval'?)",
        "default_hooks.logger (LoggerHook): unknown key 'intreval' (did you mean 'interval'?)",
        "custom_hooks[0] (InvalidLossGuardHook): unknown key 'max_consecutiv' (did you mean "
        "'max_consecutive'?)",
    ):
        assert expected in text, text
    assert hook_problems(Config.fromfile(tiny_config)) == []

    train = load_tool('train')
    argv = [tiny_config, '--work-dir', str(tmp_path / 'w'), '--cfg-options']
    assert train.main(argv + ['default_hooks.checkpoint.max_keep_ckpt=1']) == 2
    err = capsys.readouterr().err
    assert 'Unknown hook settings' in err and "did you mean 'max_keep_ckpts'?" in err, err
    assert not (tmp_path / 'w').exists() or not list((tmp_path / 'w').glob('*.pth'))


def test_cfg_options_keys_the_config_lacks_are_warned_about(tiny_config):
    from ssd_plugin.apis.tool_config import new_key_notes

    cfg = Config.fromfile(tiny_config)
    notes = new_key_notes(
        cfg,
        {
            'randomnes.seed': 1,
            'train_dataloader.dataset.dataset.filter_cfg.filter_empty_g': False,
            'train_dataloader.batch_size': 2,  # exists: no note
            'model.backbone.init_cfg': None,  # None: as absent
            'param_scheduler.0.end': 3,  # a list index
        },
    )
    assert notes == [
        "--cfg-options randomnes.seed: the config has no key 'randomnes' (did you mean "
        "'randomness'?); it is added, but nothing may read it",
        '--cfg-options train_dataloader.dataset.dataset.filter_cfg.filter_empty_g: '
        "train_dataloader.dataset.dataset.filter_cfg has no key 'filter_empty_g' (did you mean "
        "'filter_empty_gt'?); it is added, but nothing may read it",
    ]


def test_test_and_infer_refuse_a_checkpoint_of_another_model(
    tmp_path, tiny_config, tiny_data, capsys
):
    """Neck/head shapes of another model used to give mAP and detections of partly random
    weights with exit 0 (only "size mismatch" log lines); now the keys are named, exit 2."""
    import torch
    from mmengine.registry import DefaultScope

    from ssd_plugin.registry import MODELS

    cfg = Config.fromfile(tiny_config)
    other = cfg.model.copy()
    other.bbox_head = dict(other.bbox_head, num_classes=3)
    with DefaultScope.overwrite_default_scope('ssd_plugin'):
        state = MODELS.build(other).state_dict()
    state['extra.weight'] = torch.zeros(2)
    ckpt = tmp_path / 'other.pth'
    torch.save(dict(state_dict=state, meta=dict(dataset_meta=dict(classes=['a', 'b', 'c']))),
               str(ckpt))  # fmt: skip
    for tool, argv in (
        ('test', [tiny_config, str(ckpt), '--work-dir', str(tmp_path / 'w')]),
        ('infer', [tiny_data + 'val', tiny_config, str(ckpt), '--out-dir', str(tmp_path / 'i')]),
    ):
        assert load_tool(tool).main(argv) == 2, tool
        err = capsys.readouterr().err
        assert f'Checkpoint {ckpt} does not fit the model of config {tiny_config}' in err, err
        assert (
            '1 unexpected: extra.weight' in err and 'of another shape: bbox_head.cls_convs.0' in err
        )
    assert not (tmp_path / 'i' / 'detections.json').exists()


def test_json_problem_of_an_unterminated_string_reads_once_at(tmp_path):
    path = tmp_path / 'cut.json'
    path.write_text('{"images": [{"file_name": "a.jpg')
    assert json_problem(str(path)) == (
        f'{path} is not valid JSON: Unterminated string starting at line 1 column 27 '
        '(char 26 of 32)'
    )


def test_syntax_error_in_a_base_config_names_the_file_and_line(tmp_path, capsys):
    """mmengine reports it as File "<unknown>", line 2."""
    (tmp_path / 'base.py').write_text('a = 1\nb = (2,\nc = 3\n')
    top = tmp_path / 'top.py'
    top.write_text("_base_ = ['./base.py']\nx = 1\n")
    with pytest.raises(RunCheckError) as info:
        load_tool_config(str(top))
    assert f'Syntax error in config {tmp_path}/./base.py:2:5: ' in str(info.value)
    assert 'b = (2,' in str(info.value)
    assert load_tool('export_onnx').main([str(top), 'x.pth', '--out', 'x.onnx']) == 2
    assert 'base.py:2:5' in capsys.readouterr().err


def test_demo_config_without_its_data_gets_the_generator_advice_not_coco(tmp_path):
    from model_test_utils import get_config

    cfg = get_config('demo/ssd_cspdarknet_synthetic_cpu.py')
    root = str(tmp_path / 'elsewhere') + '/'
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': root})
    problems, hints = dataset_problems(cfg, ['train_dataloader'])
    assert problems and any('tools/generate_dataset.py --out' in h for h in hints), hints
    assert not any('cocodataset.org' in h for h in hints), hints


def test_a_successful_run_leaves_the_process_group_it_joined(monkeypatch):
    # At interpreter exit gloo's teardown aborted 3 of 20 two-process runs here
    # ("terminate called without an active exception"): run_tool destroys the group first.
    import argparse
    import socket

    import torch.distributed as dist

    from ssd_plugin.apis.check_run import run_tool

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1')
    for key, value in dict(env, MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    seen = []
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    args = argparse.Namespace(config='tiny.py', launcher='pytorch')
    assert run_tool(args, 'train', lambda a: cfg, lambda c: seen.append(dist.is_initialized())) == 0
    assert seen == [True] and not dist.is_initialized()
