"""Dataset checks: missing ``data_root``/``ann_file``/``data_prefix`` paths of
every dataset a run uses (through wrappers such as ``RepeatDataset``) and of
COCO-style evaluators, with how to get the data; and annotation files that are
not valid JSON, named with the parse position.

The configs are walked as plain dicts (``mmengine.Config`` or ``dict``), where
any node may be missing (None).
"""

import json
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ssd_plugin.datasets.ssd_coco_dataset import json_error_text

from .run_check_error import RunCheckError

__all__ = [
    'dataset_problems',
    'invalid_json_error',
    'is_json_error',
    'json_problem',
    'leaf_datasets',
    'used_dataloaders',
]

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
# The annotation files of tools/generate_dataset.py's default layout (the demo's).
SYNTHETIC_ANN_FILES = ('instances_train.json', 'instances_val.json')
_IMAGE_PREFIX_KEYS = ('img', 'img_path')  # the image folders of ``data_prefix``


def cfg_get(node: Any, key: str, default: Any = None) -> Any:
    """``node.get(key, default)``, or ``default`` where ``node`` is not a mapping."""
    return node.get(key, default) if hasattr(node, 'get') else default


def _join_root(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or '://' in path else osp.join(root, path)


def leaf_datasets(ds_cfg: Any, key: str, scope: Optional[str] = None) -> Iterator[Tuple[str, Any]]:
    """``(cfg-options key, cfg)`` of each dataset inside wrappers.

    ``RepeatDataset``, ``ClassBalancedDataset`` and ``MultiImageMixDataset``
    hold one ``dataset``, ``ConcatDataset`` a list of ``datasets``. A
    wrapper's ``_scope_`` (stamped by ``mmdet::`` bases) is passed down, as
    the wrapper's build would, to a leaf that has none: that leaf comes as a
    copy with ``_scope_`` set. A leaf that is not a dict (None) comes as is.
    """
    if not hasattr(ds_cfg, 'get'):
        yield key, ds_cfg
        return
    scope = ds_cfg.get('_scope_', scope)
    if ds_cfg.get('dataset') is not None:
        yield from leaf_datasets(ds_cfg['dataset'], f'{key}.dataset', scope)
    elif ds_cfg.get('datasets') is not None:
        for i, sub in enumerate(ds_cfg['datasets']):
            yield from leaf_datasets(sub, f'{key}.datasets.{i}', scope)
    elif scope is not None and ds_cfg.get('_scope_') is None:
        yield key, {**ds_cfg, '_scope_': scope}
    else:
        yield key, ds_cfg


def _evaluator_ann_files(evaluator: Any, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(evaluator, (list, tuple)):
        for i, sub in enumerate(evaluator):
            yield from _evaluator_ann_files(sub, f'{key}.{i}')
    elif cfg_get(evaluator, 'metrics') is not None:
        yield from _evaluator_ann_files(evaluator['metrics'], f'{key}.metrics')
    elif isinstance(cfg_get(evaluator, 'ann_file'), str):
        yield f'{key}.ann_file', evaluator['ann_file']


def used_dataloaders(cfg: Any, mode: str) -> List[str]:
    """Names of the dataloaders a ``train``, ``test``, ``browse`` or ``infer`` run builds."""
    if mode == 'train':
        val = all(cfg.get(k) is not None for k in ('val_dataloader', 'val_cfg', 'val_evaluator'))
        return ['train_dataloader'] + (['val_dataloader'] if val else [])
    return {'test': ['test_dataloader'], 'browse': ['train_dataloader']}.get(mode, [])


def _dataset_howto(ds_type: str, data_root: str, ann_file: str) -> str:
    if 'synthetic' in data_root or osp.basename(str(ann_file)) in SYNTHETIC_ANN_FILES:
        return SYNTHETIC_HOWTO.format(root=data_root.rstrip('/') or 'data/synthetic')
    if 'voc' in ds_type.lower():
        return VOC_HOWTO
    if 'coco' in ds_type.lower():
        return COCO_HOWTO
    return f'Place the {ds_type or "dataset"} files at the paths above.'


def _missing_paths(ds: Any, images: bool) -> List[str]:
    """What of one local dataset's ``data_root``, ``ann_file`` and ``data_prefix`` is missing."""
    data_root = cfg_get(ds, 'data_root') or ''
    if data_root and not osp.isdir(data_root):
        return [f'data_root {data_root!r} does not exist']
    found = []
    ann_file = cfg_get(ds, 'ann_file')
    if ann_file and not osp.isfile(_join_root(data_root, ann_file)):
        found.append(f'ann_file {_join_root(data_root, ann_file)!r} does not exist')
    for prefix_key, prefix in (cfg_get(ds, 'data_prefix') or {}).items():
        if not images and prefix_key in _IMAGE_PREFIX_KEYS:
            continue
        path = _join_root(data_root, prefix) if isinstance(prefix, str) else ''
        if prefix and path and not osp.exists(path):
            found.append(f'data_prefix.{prefix_key} {path!r} does not exist')
    return found


def dataset_problems(
    cfg: Any, dataloaders: Sequence[str], images: bool = True
) -> Tuple[List[str], List[str]]:
    """Missing dataset files of the given dataloaders and their evaluators.

    Args:
        cfg: The full config.
        dataloaders: Names such as ``'train_dataloader'``.
        images: Whether the image folders (``data_prefix.img``) must exist;
            False for a run that reads only the annotations.

    Returns:
        ``(problems, hints)``: one line per missing path, and the lines that
        say how to get the data and how to point the config elsewhere.
    """
    problems: List[str] = []
    howtos: List[str] = []
    root_keys: List[str] = []
    for name in dataloaders:
        loader = cfg.get(name)
        if loader is None:
            problems.append(f"{name} is not set in the config; add one (see mmdet's configs)")
            continue
        for key, ds in leaf_datasets(cfg_get(loader, 'dataset'), f'{name}.dataset'):
            backend = cfg_get(cfg_get(ds, 'backend_args') or {}, 'backend', 'local')
            data_root = cfg_get(ds, 'data_root') or ''
            if backend != 'local' or '://' in data_root:
                continue
            ds_type = str(cfg_get(ds, 'type', ''))
            found = _missing_paths(ds, images)
            problems += [f'{key} ({ds_type}): {text}' for text in found]
            if found:
                root_keys.append(f'{key}.data_root=/path/to/data/')
                howto = _dataset_howto(ds_type, data_root, cfg_get(ds, 'ann_file') or '')
                if howto not in howtos:
                    howtos.append(howto)
        eval_name = name.replace('_dataloader', '_evaluator')
        for key, ann_file in _evaluator_ann_files(cfg.get(eval_name), eval_name):
            if '://' not in ann_file and not osp.isfile(ann_file):
                problems.append(f'{key}: {ann_file!r} does not exist')
                root_keys.append(f'{key}=/path/to/data/annotations/....json')
    if not root_keys:
        return problems, []
    return problems, [
        'How to get the data:',
        *[f'  {h}' for h in howtos or ['Place the files at the paths above.']],
        'How to use data elsewhere: edit `data_root = ...` at the top of the config (the '
        'simplest: it also moves the evaluator ann_file), or override the paths with',
        '  --cfg-options ' + ' '.join(dict.fromkeys(root_keys)),
    ]


def json_problem(path: str) -> Optional[str]:
    """Why ``path`` is not valid JSON (with the parse position), or None."""
    try:
        with open(path, 'rb') as f:
            json.loads(f.read().decode('utf-8'))
    except UnicodeDecodeError as err:
        return f'{path} is not valid JSON: not UTF-8 text (byte {err.start})'
    except json.JSONDecodeError as err:
        return json_error_text(path, err)
    except OSError:
        return None  # missing files are the dataset check's
    return None


def is_json_error(err: Optional[BaseException]) -> bool:
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
    files: List[Tuple[str, str]] = []
    for name in used_dataloaders(cfg, mode):
        for key, ds in leaf_datasets(cfg_get(cfg.get(name), 'dataset'), f'{name}.dataset'):
            ann_file = cfg_get(ds, 'ann_file')
            if isinstance(ann_file, str) and ann_file:
                files.append(
                    (f'{key}.ann_file', _join_root(cfg_get(ds, 'data_root') or '', ann_file))
                )
        eval_name = name.replace('_dataloader', '_evaluator')
        files += _evaluator_ann_files(cfg.get(eval_name), eval_name)
    parsed: Dict[str, Any] = {}  # each file parsed once, however many keys name it
    problems = []
    for key, path in files:
        if path not in parsed:
            parsed[path] = path.endswith('.json') and osp.isfile(path) and json_problem(path)
        if parsed[path]:
            problems.append(f'{key}: {parsed[path]}')
    if not problems:
        return None
    return RunCheckError(
        f'Cannot run config {config_path}: an annotation file is not valid JSON:\n'
        + '\n'.join(f'  - {p}' for p in problems)
        + '\n  Fix or regenerate the file (a truncated download or copy is the usual cause).'
    )
