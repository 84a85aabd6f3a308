"""Weight checks: pretrained weights (``init_cfg`` of type ``Pretrained``,
``load_from``) and command-line checkpoints that are neither local files nor in
mmengine's or torch's download cache. Nothing can be downloaded at run time.
"""

import json
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

from ssd_plugin.fileio import checkpoint_problem

from ._config_walk import cfg_get, is_remote

__all__ = ['ALLOW_DOWNLOAD_ENV', 'locate_weight', 'weight_problems', 'checkpoint_problems']

ALLOW_DOWNLOAD_ENV = 'SSD_PLUGIN_ALLOW_DOWNLOAD'


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
        if is_remote(checkpoint):
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
    if cfg_get(node, 'type') == 'Pretrained' and isinstance(cfg_get(node, 'checkpoint'), str):
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
    refs = list(_pretrained_refs(cfg_get(cfg, 'model'), 'model'))
    if include_load_from and isinstance(cfg_get(cfg, 'load_from'), str):
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


def checkpoint_problems(
    checkpoint: str, what: str = 'checkpoint', verify: bool = True
) -> List[str]:
    """A line if a checkpoint given on the command line cannot be loaded offline,
    or (``verify``) is a local file that is truncated or corrupt (its records
    checked against their CRC-32, :func:`ssd_plugin.fileio.checkpoint_problem`;
    a file of torch's legacy non-zip format passes unchecked)."""
    url, path, error = locate_weight(checkpoint)
    if error is not None:
        return [f'{what} {checkpoint}: {error}']
    if path is None:
        return []
    if osp.isfile(path):
        problem = checkpoint_problem(path, allow_legacy=True) if verify else None
        return [f'{what} {checkpoint}: {problem}'] if problem else []
    if url is not None:
        return [
            f'{what} {checkpoint} is not in the local download cache ({path}) and there '
            'is no internet access; download it elsewhere and pass the local file'
        ]
    return [f'{what} not found: {checkpoint} (resolved: {path})']
