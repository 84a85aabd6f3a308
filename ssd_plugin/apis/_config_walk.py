"""Walking plain config dicts (``mmengine.Config`` or ``dict``): the datasets
inside wrappers, the evaluators' annotation files, the dataloaders a run uses.

Shared by the run checks of this layer; it imports nothing but the standard library.
"""

import os.path as osp
from typing import Any, Iterator, List, Optional, Tuple

__all__ = [
    'cfg_get',
    'cfg_section',
    'is_remote',
    'join_root',
    'leaf_datasets',
    'evaluator_ann_files',
    'used_dataloaders',
]


def cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if hasattr(cfg, 'get') else default


def cfg_section(cfg: Any, key: str) -> Any:
    """``cfg[key]``, created empty if missing (``ConfigDict.setdefault`` returns a copy)."""
    if cfg.get(key) is None:
        cfg[key] = {}
    return cfg[key]


def is_remote(path: str) -> bool:
    return '://' in path


def join_root(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or is_remote(path) else osp.join(root, path)


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


def evaluator_ann_files(evaluator: Any, key: str) -> Iterator[Tuple[str, str]]:
    if isinstance(evaluator, (list, tuple)):
        for i, sub in enumerate(evaluator):
            yield from evaluator_ann_files(sub, f'{key}.{i}')
    elif hasattr(evaluator, 'get'):
        if cfg_get(evaluator, 'metrics') is not None:
            yield from evaluator_ann_files(evaluator['metrics'], f'{key}.metrics')
        elif isinstance(cfg_get(evaluator, 'ann_file'), str):
            yield f'{key}.ann_file', evaluator['ann_file']


def used_dataloaders(cfg: Any, mode: str) -> List[str]:
    """Names of the dataloaders a ``train``, ``test``, ``browse`` or ``infer`` run builds."""
    if mode == 'train':
        names = ['train_dataloader']
        if all(cfg_get(cfg, k) is not None for k in ('val_dataloader', 'val_cfg', 'val_evaluator')):
            names.append('val_dataloader')
        return names
    if mode == 'test':
        return ['test_dataloader']
    if mode == 'browse':
        return ['train_dataloader']
    return []
