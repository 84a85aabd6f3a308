"""Checks the tools run before building a Runner, so that missing things end
in one clear message instead of a stack trace deep inside a build.

Everything here works on plain config dicts (``mmengine.Config`` or ``dict``)
and touches nothing but the file system, so it is cheap and easy to test:

* :func:`dataset_problems`: ``data_root``, ``ann_file`` and ``data_prefix`` of
  every dataset a run uses (through wrappers such as ``RepeatDataset``), and
  the ``ann_file`` of COCO-style evaluators.
* :func:`weight_problems`: pretrained weights (``init_cfg`` of type
  ``Pretrained``, ``load_from``) that are neither local files nor in the
  download cache; nothing can be downloaded at run time.
* :func:`check_run`: both, for the dataloaders a ``train``/``test``/``infer``
  run needs, raising :class:`RunCheckError` with every problem and its fix.
* :func:`find_resume_checkpoint`: the checkpoint ``--resume`` continues from,
  skipping a truncated one (a run killed while saving without the
  ``atomic_local`` backend) or a ``last_checkpoint`` that names none.
* :func:`adapt_to_device`: CPU-only adjustments of a config (``gloo`` instead
  of ``nccl``, DDP without device ids) and :func:`enable_amp`.
"""

import json
import os
import os.path as osp
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

__all__ = [
    'RunCheckError',
    'ALLOW_DOWNLOAD_ENV',
    'check_config_file',
    'check_run',
    'dataset_problems',
    'weight_problems',
    'locate_weight',
    'checkpoint_problems',
    'is_complete_checkpoint',
    'find_resume_checkpoint',
    'resume_problem',
    'annotation_files',
    'json_problem',
    'invalid_json_error',
    'is_json_error',
    'adapt_to_device',
    'enable_amp',
    'used_dataloaders',
    'init_cpu_distributed',
]

ALLOW_DOWNLOAD_ENV = 'SSD_PLUGIN_ALLOW_DOWNLOAD'

COCO_HOWTO = (
    'COCO 2017: download train2017.zip, val2017.zip and annotations_trainval2017.zip from '
    'https://cocodataset.org/#download and unpack them into data/coco/, so that it holds '
    'annotations/instances_train2017.json, annotations/instances_val2017.json, train2017/ '
    'and val2017/.'
)
VOC_HOWTO = (
    'Pascal VOC: download VOCtrainval_06-Nov-2007.tar, VOCtest_06-Nov-2007.tar and '
    'VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/ and unpack them '
    'into data/, so that it holds data/VOCdevkit/VOC2007/ and data/VOCdevkit/VOC2012/ (each '
    'with Annotations/, ImageSets/ and JPEGImages/).'
)
SYNTHETIC_HOWTO = (
    'Synthetic shapes (offline): python tools/generate_dataset.py --out {root} writes the '
    'dataset in seconds.'
)


class RunCheckError(Exception):
    """A missing file or unusable setting; the message says how to fix it."""


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if hasattr(cfg, 'get') else default


def _section(cfg: Any, key: str) -> Any:
    """``cfg[key]``, created empty if missing (``ConfigDict.setdefault`` returns a copy)."""
    if cfg.get(key) is None:
        cfg[key] = {}
    return cfg[key]


def _is_remote(path: str) -> bool:
    return '://' in path


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or _is_remote(path) else osp.join(root, path)


def check_config_file(path: str) -> None:
    """Raise :class:`RunCheckError` unless the config file exists."""
    if not osp.isfile(path):
        raise RunCheckError(f'Config file not found: {path} (resolved: {osp.abspath(path)})')


# --------------------------------------------------------------------------- datasets
def _leaf_datasets(ds_cfg: Any, key: str) -> Iterator[Tuple[str, Any]]:
    """``(cfg-options key, cfg)`` of each dataset inside wrappers."""
    if not hasattr(ds_cfg, 'get'):
        return
    if _get(ds_cfg, 'dataset') is not None:
        yield from _leaf_datasets(ds_cfg['dataset'], f'{key}.dataset')
    elif _get(ds_cfg, 'datasets') is not None:
        for i, sub in enumerate(ds_cfg['datasets']):
            yield from _leaf_datasets(sub, f'{key}.datasets.{i}')
    else:
        yield key, ds_cfg


def _evaluator_ann_files(evaluator: Any, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(evaluator, (list, tuple)):
        for i, sub in enumerate(evaluator):
            yield from _evaluator_ann_files(sub, f'{key}.{i}')
    elif hasattr(evaluator, 'get'):
        if _get(evaluator, 'metrics') is not None:
            yield from _evaluator_ann_files(evaluator['metrics'], f'{key}.metrics')
        elif isinstance(_get(evaluator, 'ann_file'), str):
            yield f'{key}.ann_file', evaluator['ann_file']


def used_dataloaders(cfg: Any, mode: str) -> List[str]:
    """Names of the dataloaders a ``train``, ``test``, ``browse`` or ``infer`` run builds."""
    if mode == 'train':
        names = ['train_dataloader']
        if all(_get(cfg, k) is not None for k in ('val_dataloader', 'val_cfg', 'val_evaluator')):
            names.append('val_dataloader')
        return names
    if mode == 'test':
        return ['test_dataloader']
    if mode == 'browse':
        return ['train_dataloader']
    return []


def _dataset_howto(ds_type: str, data_root: str) -> str:
    if 'synthetic' in data_root:
        return SYNTHETIC_HOWTO.format(root=data_root.rstrip('/') or 'data/synthetic')
    if 'voc' in ds_type.lower():
        return VOC_HOWTO
    if 'coco' in ds_type.lower():
        return COCO_HOWTO
    return f'Place the {ds_type or "dataset"} files at the paths above.'


def dataset_problems(cfg: Any, dataloaders: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Missing dataset files of the given dataloaders and their evaluators.

    Args:
        cfg: The full config.
        dataloaders: Names such as ``'train_dataloader'``.

    Returns:
        ``(problems, hints)``: one line per missing path, and the lines that
        say how to get the data and how to point the config elsewhere.
    """
    problems: List[str] = []
    howtos: List[str] = []
    root_keys: List[str] = []
    for name in dataloaders:
        loader = _get(cfg, name)
        if loader is None:
            problems.append(f"{name} is not set in the config; add one (see mmdet's configs)")
            continue
        for key, ds in _leaf_datasets(_get(loader, 'dataset'), f'{name}.dataset'):
            backend = _get(_get(ds, 'backend_args') or {}, 'backend', 'local')
            data_root = _get(ds, 'data_root') or ''
            if backend != 'local' or _is_remote(data_root):
                continue
            ds_type = str(_get(ds, 'type', ''))
            found = []
            if data_root and not osp.isdir(data_root):
                found.append(f'data_root {data_root!r} does not exist')
            else:
                ann_file = _get(ds, 'ann_file')
                if ann_file and not osp.isfile(_join(data_root, ann_file)):
                    found.append(f'ann_file {_join(data_root, ann_file)!r} does not exist')
                for prefix_key, prefix in (_get(ds, 'data_prefix') or {}).items():
                    path = _join(data_root, prefix) if isinstance(prefix, str) else ''
                    if prefix and path and not osp.exists(path):
                        found.append(f'data_prefix.{prefix_key} {path!r} does not exist')
            for text in found:
                problems.append(f'{key} ({ds_type}): {text}')
            if found:
                root_keys.append(f'{key}.data_root=/path/to/data/')
                howto = _dataset_howto(ds_type, data_root)
                if howto not in howtos:
                    howtos.append(howto)
        eval_name = name.replace('_dataloader', '_evaluator')
        for key, ann_file in _evaluator_ann_files(_get(cfg, eval_name), eval_name):
            if not _is_remote(ann_file) and not osp.isfile(ann_file):
                problems.append(f'{key}: {ann_file!r} does not exist')
                root_keys.append(f'{key}=/path/to/data/annotations/....json')
    hints = []
    if root_keys:
        hints.append('How to get the data:')
        hints += [f'  {h}' for h in howtos or ['Place the files at the paths above.']]
        hints.append(
            'How to use data elsewhere: edit `data_root = ...` at the top of the config (the '
            'simplest: it also moves the evaluator ann_file), or override the paths with'
        )
        hints.append('  --cfg-options ' + ' '.join(dict.fromkeys(root_keys)))
    return problems, hints


# --------------------------------------------------------------------------- weights
def _mmengine_home() -> str:
    """mmengine's cache root, as ``_get_mmengine_home`` computes it (without mkdir)."""
    default = osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine')
    return osp.expanduser(os.getenv('MMENGINE_HOME', default))


def _hub_json(name: str) -> Dict[str, str]:
    import mmengine

    with open(osp.join(mmengine.__path__[0], 'hub', name)) as f:
        return json.load(f)


def _url_cache_path(url: str) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` (mmengine's ``load_url``) caches a URL."""
    import torch.hub

    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def _scheme_url(checkpoint: str) -> Tuple[Optional[str], Optional[str]]:
    """``(url, error)`` of a model-zoo name, following mmengine's tables."""
    if checkpoint.startswith(('open-mmlab://', 'openmmlab://')):
        name = checkpoint.split('://', 1)[1]
        urls = _hub_json('openmmlab.json')
        external = osp.join(_mmengine_home(), 'open_mmlab.json')
        if osp.isfile(external):
            with open(external) as f:
                urls.update(json.load(f))
        name = _hub_json('deprecated.json').get(name, name)
    elif checkpoint.startswith(('torchvision://', 'modelzoo://')):
        name = checkpoint.split('://', 1)[1]
        urls = _hub_json('torchvision_0.12.json')
        if name not in urls:
            try:
                from mmengine.runner.checkpoint import get_torchvision_models

                urls = get_torchvision_models()
            except ImportError:
                return None, f'{checkpoint} needs torchvision, which is not installed'
    elif checkpoint.startswith('mmcls://'):
        name = checkpoint.split('://', 1)[1]
        urls = _hub_json('mmcls.json')
    else:
        return None, None
    if name not in urls:
        return None, f"{checkpoint} is not a known model name of mmengine's model zoo tables"
    return urls[name], None


def locate_weight(checkpoint: str) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """Where a checkpoint reference must be on disk to load without internet.

    Args:
        checkpoint: A local path, an http(s) URL, or ``open-mmlab://``,
            ``torchvision://``, ``mmcls://`` model names.

    Returns:
        ``(url, local_path, error)``: the URL it downloads from (None for
        local files), the file that must exist (None when it cannot be told,
        e.g. other remote schemes), and an error for unknown names.
    """
    url, error = _scheme_url(checkpoint)
    if error:
        return None, None, error
    if url is None and checkpoint.startswith(('http://', 'https://')):
        url = checkpoint
    if url is None:
        if _is_remote(checkpoint):
            return None, None, None
        return None, osp.abspath(osp.expanduser(checkpoint)), None
    if url.startswith(('http://', 'https://')):
        return url, _url_cache_path(url), None
    # an open-mmlab entry that names a file under mmengine's home
    return None, osp.join(_mmengine_home(), url), None


def _pretrained_refs(node: Any, key: str) -> Iterator[Tuple[str, str]]:
    """``(cfg-options key of the init_cfg, checkpoint)`` of every Pretrained init."""
    if isinstance(node, (list, tuple)):
        for i, sub in enumerate(node):
            yield from _pretrained_refs(sub, f'{key}.{i}')
        return
    if not hasattr(node, 'items'):
        return
    if _get(node, 'type') == 'Pretrained' and isinstance(_get(node, 'checkpoint'), str):
        yield key, node['checkpoint']
        return
    for sub_key, value in node.items():
        if sub_key == 'pretrained' and isinstance(value, str):
            yield f'{key}.pretrained', value
        elif isinstance(value, (dict, list, tuple)) or hasattr(value, 'items'):
            yield from _pretrained_refs(value, f'{key}.{sub_key}')


def weight_problems(cfg: Any, include_load_from: bool = True) -> List[str]:
    """Pretrained weights of the model (and ``load_from``) that are not on disk.

    Skipped entirely when the environment variable ``SSD_PLUGIN_ALLOW_DOWNLOAD``
    is ``1`` (let mmengine download them where there is internet).

    Args:
        cfg: The full config.
        include_load_from: Also check ``cfg.load_from`` (a training run that
            fine-tunes from it).

    Returns:
        One multi-line problem per missing weight, each with its fixes.
    """
    if os.getenv(ALLOW_DOWNLOAD_ENV) == '1':
        return []
    refs = list(_pretrained_refs(_get(cfg, 'model'), 'model'))
    if include_load_from and isinstance(_get(cfg, 'load_from'), str):
        refs.append(('load_from', cfg['load_from']))
    problems = []
    for key, checkpoint in refs:
        url, path, error = locate_weight(checkpoint)
        if path is not None and osp.isfile(path):
            continue
        if error is None and path is None:
            continue  # a remote scheme we cannot check
        where = f'{key}: {checkpoint}'
        if url is not None and url != checkpoint:
            where += f'\n      = {url}'
        if error is not None:
            where += f'\n      {error}'
        elif url is not None:
            where += (
                f'\n      is not in the local download cache: {path}'
                '\n      There is no internet access at run time, so it cannot be downloaded. '
                'Download it on another machine and put it at that path (TORCH_HOME moves the '
                'cache),'
            )
        else:
            where += f'\n      file not found: {path}'
        if key == 'load_from':
            fix = '--cfg-options load_from=None (start from the initialisation instead)'
            where += '\n      or point to a local copy: --cfg-options load_from=/path/to/file.pth'
        else:
            ckpt_key = key if key.endswith('.pretrained') else f'{key}.checkpoint'
            fix = f'--cfg-options {key}=None (train from scratch)'
            where += f'\n      or point to a local copy: --cfg-options {ckpt_key}=/path/to/file.pth'
        problems.append(f'{where}\n      or do without it: {fix}')
    return problems


def checkpoint_problems(checkpoint: str, what: str = 'checkpoint') -> List[str]:
    """A line if a checkpoint given on the command line cannot be loaded offline."""
    url, path, error = locate_weight(checkpoint)
    if error is not None:
        return [f'{what} {checkpoint}: {error}']
    if path is None or osp.isfile(path):
        return []
    if url is not None:
        return [
            f'{what} {checkpoint} is not in the local download cache ({path}) and there '
            'is no internet access; download it elsewhere and pass the local file'
        ]
    return [f'{what} not found: {checkpoint} (resolved: {path})']


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file.

    ``torch.save`` writes a zip archive whose central directory comes last,
    so a file cut short by a killed save is no valid zip.
    """
    return osp.isfile(path) and osp.getsize(path) > 0 and zipfile.is_zipfile(path)


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint to resume from in ``work_dir``, and a note when it is not
    the one ``last_checkpoint`` names.

    Returns:
        ``(path, note)``: ``last_checkpoint``'s file when it is complete;
        otherwise the newest complete ``*.pth`` of ``work_dir`` (or None),
        with a note saying why.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    last = None
    if osp.isfile(record):
        with open(record) as f:
            last = f.read().strip() or None
    if last is not None and is_complete_checkpoint(last):
        return last, None
    candidates = []
    if osp.isdir(work_dir):
        for name in os.listdir(work_dir):
            path = osp.join(work_dir, name)
            if name.endswith('.pth') and not name.startswith('.') and is_complete_checkpoint(path):
                candidates.append((osp.getmtime(path), path))
    if last is None and not candidates:
        return None, None
    why = (
        f'{record} names {last}, which is missing or truncated'
        if last is not None
        else f'{record} is missing or empty'
    )
    if not candidates:
        return None, f'{why}, and {work_dir} holds no complete checkpoint; starting afresh'
    newest = max(candidates)[1]
    return newest, f'{why}; resuming from the newest complete checkpoint {newest}'


def resume_problem(checkpoint: str, work_dir: Optional[str] = None) -> Optional[str]:
    """The message section when ``--resume CHECKPOINT`` cannot be resumed from, else None.

    A missing or truncated file is named with the complete checkpoints of
    ``work_dir`` to resume from instead.
    """
    lines = [f'  - {p}' for p in checkpoint_problems(checkpoint, 'resume checkpoint')]
    if not lines and osp.isfile(checkpoint) and not is_complete_checkpoint(checkpoint):
        lines.append(
            f'  - {checkpoint} is truncated or not a torch checkpoint '
            f'({osp.getsize(checkpoint)} bytes)'
        )
    if not lines:
        return None
    found = []
    if work_dir and osp.isdir(work_dir):
        found = sorted(
            osp.join(work_dir, n)
            for n in os.listdir(work_dir)
            if n.endswith('.pth') and n[0] != '.' and is_complete_checkpoint(osp.join(work_dir, n))
        )
    if found:
        lines.append(f'  Complete checkpoints in {work_dir}: {", ".join(found)}')
    lines.append(
        '  Pass one of them, or --resume without a path to take the newest complete checkpoint '
        'of the work directory (--work-dir).'
    )
    return '\n'.join(['Resume checkpoint not usable:'] + lines)


def annotation_files(cfg: Any, mode: str) -> List[Tuple[str, str]]:
    """``(config key, path)`` of the annotation files a run reads (datasets, evaluators)."""
    files: List[Tuple[str, str]] = []
    for name in used_dataloaders(cfg, mode):
        loader = _get(cfg, name)
        for key, ds in _leaf_datasets(_get(loader, 'dataset'), f'{name}.dataset'):
            ann_file = _get(ds, 'ann_file')
            if isinstance(ann_file, str) and ann_file:
                files.append((f'{key}.ann_file', _join(_get(ds, 'data_root') or '', ann_file)))
        eval_name = name.replace('_dataloader', '_evaluator')
        files += list(_evaluator_ann_files(_get(cfg, eval_name), eval_name))
    return [(k, p) for k, p in files if not _is_remote(p)]


def json_problem(path: str) -> Optional[str]:
    """Why ``path`` is not valid JSON (with the parse position), or None."""
    try:
        with open(path, 'rb') as f:
            json.loads(f.read().decode('utf-8'))
    except UnicodeDecodeError as err:
        return f'{path} is not valid JSON: not UTF-8 text (byte {err.start})'
    except json.JSONDecodeError as err:
        return (
            f'{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno} '
            f'(char {err.pos} of {len(err.doc)})'
        )
    except OSError:
        return None  # missing files are the dataset check's
    return None


def is_json_error(err: BaseException) -> bool:
    """Whether ``err`` is, or was raised from, a ``json.JSONDecodeError``."""
    while err is not None:
        if isinstance(err, json.JSONDecodeError):
            return True
        err = err.__cause__
    return False


def invalid_json_error(cfg: Any, config_path: str, mode: str) -> Optional[RunCheckError]:
    """The error naming each ``.json`` annotation file of the run that does not parse.

    Parsing a COCO annotation file costs as much as loading it, so the tools
    call this only after a ``json.JSONDecodeError`` (which names no file).
    """
    problems = []
    for key, path in annotation_files(cfg, mode):
        if path.endswith('.json') and osp.isfile(path):
            problem = json_problem(path)
            if problem and problem not in problems:
                problems.append(f'{key}: {problem}')
    if not problems:
        return None
    return RunCheckError(
        f'Cannot run config {config_path}: an annotation file is not valid JSON:\n'
        + '\n'.join(f'  - {p}' for p in problems)
        + '\n  Fix or regenerate the file (a truncated download or copy is the usual cause).'
    )


# --------------------------------------------------------------------------- all checks
def check_run(
    cfg: Any,
    config_path: str,
    mode: str,
    checkpoints: Sequence[Tuple[str, str]] = (),
) -> None:
    """Run every check for a ``train``, ``test`` or ``infer`` run.

    Args:
        cfg: The merged config (after ``--cfg-options``).
        config_path: The config file, named in the message.
        mode: ``'train'`` (train + val data, pretrained weights, load_from
            or the resume checkpoint), ``'test'`` (test data), ``'browse'``
            (train data only) or ``'infer'`` (no data).
        checkpoints: ``(what, path)`` pairs given on the command line, e.g.
            ``[('checkpoint', args.checkpoint)]``.

    Raises:
        RunCheckError: naming the config, each missing thing and its fix.
    """
    if mode not in ('train', 'test', 'infer', 'browse'):
        raise ValueError(f'mode must be train, test, infer or browse, got {mode!r}')
    sections = []
    problems = [p for what, path in checkpoints for p in checkpoint_problems(path, what)]
    if problems:
        sections.append('Checkpoint not found:\n' + '\n'.join(f'  - {p}' for p in problems))
    problems, hints = dataset_problems(cfg, used_dataloaders(cfg, mode))
    if problems:
        lines = [f'Dataset not found (relative paths are from {os.getcwd()}):']
        lines += [f'  - {p}' for p in problems] + hints
        sections.append('\n'.join(lines))
    if mode == 'train':
        load_from = _get(cfg, 'load_from')
        resuming = bool(_get(cfg, 'resume'))
        if resuming and isinstance(load_from, str):
            section = resume_problem(load_from, _get(cfg, 'work_dir'))
            if section:
                sections.append(section)
        problems = weight_problems(cfg, include_load_from=not resuming)
        if problems:
            lines = ['Pretrained weights not available offline:']
            lines += [f'  - {p}' for p in problems]
            lines.append(f'  (Set {ALLOW_DOWNLOAD_ENV}=1 to let mmengine download them instead.)')
            sections.append('\n'.join(lines))
    if sections:
        raise RunCheckError(
            f'Cannot start the {mode} run of config {config_path}:\n\n' + '\n\n'.join(sections)
        )


# --------------------------------------------------------------------------- device
def adapt_to_device(
    cfg: Any, launcher: str, explicit_keys: Sequence[str] = (), cuda: Optional[bool] = None
) -> List[str]:
    """Make a config runnable where CUDA is not available.

    Without CUDA, a distributed run cannot use NCCL, and DDP must not be
    given CUDA device ids. Settings the user gave on the command line are kept.

    Args:
        cfg: The config, changed in place.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        explicit_keys: The ``--cfg-options`` keys the user set.
        cuda: Whether CUDA is usable; detected when None.

    Returns:
        One log line per change made.
    """
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if cuda or launcher == 'none':
        return []
    notes = []
    dist_cfg = _section(_section(cfg, 'env_cfg'), 'dist_cfg')
    if not any(k.startswith('env_cfg.dist_cfg') for k in explicit_keys):
        if dist_cfg.get('backend', 'nccl') == 'nccl':
            dist_cfg['backend'] = 'gloo'
            notes.append(
                "CUDA is not available: using the 'gloo' backend instead of 'nccl' for this "
                'distributed run (set --cfg-options env_cfg.dist_cfg.backend=... to override)'
            )
    if not any(k.startswith('model_wrapper_cfg') for k in explicit_keys):
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
        is_ddp = str(wrapper.get('type', '')).endswith('MMDistributedDataParallel')
        if is_ddp and 'device_ids' not in wrapper:
            wrapper['device_ids'] = None
            cfg['model_wrapper_cfg'] = wrapper
            notes.append(
                'CUDA is not available: DistributedDataParallel runs on CPU '
                '(model_wrapper_cfg.device_ids=None)'
            )
    return notes


def init_cpu_distributed(cfg: Any, launcher: str, cuda: Optional[bool] = None) -> Optional[str]:
    """Join the process group of a CPU-only ``pytorch``-launched run.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` first,
    which a CPU-only torch build does not have. Where CUDA is absent this
    joins the group from torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) with the config's backend; the Runner
    sees an initialised group, skips its own ``init_dist`` and does the rest
    (DDP wrapping, distributed samplers, rank-0 checkpoints) as usual.

    Args:
        cfg: The config (after :func:`adapt_to_device`).
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cuda: Whether CUDA is usable; detected when None.

    Returns:
        A log line if the group was joined here, else None.

    Raises:
        RunCheckError: for the ``slurm``/``mpi`` launchers without CUDA.
    """
    import torch

    if cuda is None:
        cuda = torch.cuda.is_available()
    if cuda or launcher == 'none':
        return None
    if launcher != 'pytorch':
        raise RunCheckError(
            f"--launcher {launcher} needs CUDA: mmengine's {launcher} launcher calls "
            'torch.cuda.set_device. On CPU-only machines start tools/dist_train.sh on each node '
            '(NNODES, NODE_RANK, MASTER_ADDR and PORT set), which uses --launcher pytorch.'
        )
    import datetime

    import torch.distributed as dist

    if dist.is_initialized():
        return None
    dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if isinstance(dist_cfg.get('timeout'), (int, float)):
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    dist.init_process_group(backend=backend, **dist_cfg)
    return (
        f'CUDA is not available: joined the {backend!r} process group as rank '
        f'{dist.get_rank()} of {dist.get_world_size()}'
    )


def enable_amp(
    cfg: Any, accelerator: Optional[bool] = None, cpu_bf16: Optional[bool] = None
) -> str:
    """Switch the optimizer wrapper to mixed precision (``--amp``).

    On a GPU (CUDA/NPU/MLU/MUSA): mmengine's ``AmpOptimWrapper``, float16 with
    dynamic loss scaling. On a CPU with native bfloat16 (AVX512-BF16 or AMX):
    the plugin's ``CPUAutocastOptimWrapper``, bfloat16 autocast without loss
    scaling (mmengine's wrapper asserts a GPU).

    Args:
        cfg: The config, changed in place.
        accelerator: Whether a CUDA/NPU/MLU/MUSA device is usable; detected
            when None.
        cpu_bf16: Whether the CPU runs bfloat16 natively; detected when None.

    Returns:
        A log line.

    Raises:
        RunCheckError: on a CPU without native bfloat16, where autocast
            would emulate it and train slower than float32.
    """
    if accelerator is None:
        from mmengine.device import get_device

        accelerator = get_device() != 'cpu'
    optim_wrapper = _section(cfg, 'optim_wrapper')
    if accelerator:
        optim_wrapper['type'] = 'AmpOptimWrapper'
        optim_wrapper['loss_scale'] = 'dynamic'
        return 'AMP enabled: optim_wrapper.type=AmpOptimWrapper, loss_scale=dynamic'
    if cpu_bf16 is None:
        from ssd_plugin.engine import cpu_has_native_bf16

        cpu_bf16 = cpu_has_native_bf16()
    if not cpu_bf16:
        raise RunCheckError(
            '--amp on CPU needs native bfloat16 (AVX512-BF16 or AMX), which this CPU lacks: '
            'emulated, autocast trains slower than float32, and float16 needs a GPU '
            "(mmengine's AmpOptimWrapper asserts one). Run without --amp (float32)."
        )
    optim_wrapper['type'] = 'CPUAutocastOptimWrapper'
    optim_wrapper['dtype'] = 'bfloat16'
    optim_wrapper.pop('loss_scale', None)
    return 'AMP enabled on CPU: optim_wrapper.type=CPUAutocastOptimWrapper, dtype=bfloat16'
