"""Weight checks: pretrained weights (``init_cfg`` of type ``Pretrained``,
``load_from``) and command-line checkpoints, fetched before the run as mmdet's
tools would fetch them.

A weight that is a URL or a model-zoo name (``open-mmlab://``, ``torchvision://``)
and is not in the download cache is downloaded there, to the file mmengine's
loader reads, so the run then loads it from the cache. Only when that download
fails (no network, an unreachable host, a wrong URL) does the run stop, with a
message that names the file, where to put it, how to point to a local copy and
how to do without it.
"""

import os
import os.path as osp
import socket
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

import mmengine
from mmengine.runner import checkpoint as mmengine_checkpoint

from ssd_plugin.fileio import checkpoint_problem

from ._config_walk import cfg_get, is_remote

__all__ = [
    'DOWNLOAD_TIMEOUT',
    'checkpoint_problems',
    'fetch_weight',
    'locate_weight',
    'weight_problems',
]

# Seconds without an answer after which a download is given up (no run hangs on a
# silent host); a slow but live download is not cut off.
DOWNLOAD_TIMEOUT = 60.0


def _url_cache_path(url: str) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` (mmengine's ``load_url``) caches a URL."""
    import torch.hub

    return osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(urlparse(url).path))


def _scheme_url(checkpoint: str) -> Tuple[Optional[str], Optional[str]]:
    """``(url, error)`` of a model-zoo name, looked up in mmengine's tables as its loaders do."""
    scheme, _, name = checkpoint.partition('://')
    if scheme in ('open-mmlab', 'openmmlab'):
        urls = mmengine_checkpoint.get_external_models()
        name = mmengine_checkpoint.get_deprecated_model_names().get(name, name)
    elif scheme == 'mmcls':
        urls = mmengine_checkpoint.get_mmcls_models()
    elif scheme in ('torchvision', 'modelzoo'):
        try:
            urls = mmengine_checkpoint.get_torchvision_models()
        except ImportError:  # the torchvision 0.12 table that mmengine's lookup starts from
            urls = mmengine.load(osp.join(mmengine.__path__[0], 'hub', 'torchvision_0.12.json'))
            if name not in urls:
                return None, f'{checkpoint} needs torchvision, which is not installed'
    else:
        return None, None
    if name not in urls:
        return None, f"{checkpoint} is not a known model name of mmengine's model zoo tables"
    return urls[name], None


def locate_weight(checkpoint: str) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """Where a checkpoint reference is read from, and the URL it comes from.

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
    return None, osp.join(mmengine_checkpoint._get_mmengine_home(), url), None


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


def fetch_weight(url: str, path: str) -> Optional[str]:
    """Download ``url`` to ``path`` (the download cache) unless it is there.

    Only the first process of a machine downloads (``LOCAL_RANK`` 0 or
    unset); the others leave it to mmengine's loader, which waits for rank 0.

    Returns:
        None when the file is there (or left to rank 0), else why the
        download failed, e.g. ``'URLError: [Errno 111] Connection refused'``.
    """
    if osp.isfile(path) or int(os.getenv('LOCAL_RANK', '0')) != 0:
        return None
    from torch.hub import download_url_to_file

    os.makedirs(osp.dirname(path), exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        download_url_to_file(url, path, progress=True)
    except Exception as err:  # URLError, HTTPError, timeouts, a full disk, ...
        return f'{type(err).__name__}: {err}'
    finally:
        socket.setdefaulttimeout(previous)
    return None


def _weight_problem(checkpoint: str) -> Tuple[Optional[str], Optional[str]]:
    """``(problem, path)`` of one weight reference: None when it can be loaded."""
    url, path, error = locate_weight(checkpoint)
    if error is not None:
        return error, path
    if path is None or osp.isfile(path):
        return None, path  # a remote scheme mmengine reads itself, or a file on disk
    if url is None:
        return f'file not found: {path}', path
    failure = fetch_weight(url, path)
    if failure is None:
        return None, path
    shown = url if url == checkpoint else f'{url} ({checkpoint})'
    return (
        f'could not be downloaded from {shown}: {failure}\n'
        f'      Download it yourself and put it at {path} (TORCH_HOME moves that cache)'
    ), path


def weight_problems(cfg: Any, include_load_from: bool = True) -> List[str]:
    """Pretrained weights of the model (and ``load_from``) that cannot be loaded.

    Weights given as URLs or model-zoo names are downloaded to the cache first
    (:func:`fetch_weight`); a problem is reported only when that fails, or for a
    local file that does not exist.

    Args:
        cfg: The full config.
        include_load_from: Also check ``cfg.load_from`` (a training run that
            fine-tunes from it).

    Returns:
        One multi-line problem per weight, each with its fixes.
    """
    refs = list(_pretrained_refs(cfg_get(cfg, 'model'), 'model'))
    if include_load_from and isinstance(cfg_get(cfg, 'load_from'), str):
        refs.append(('load_from', cfg['load_from']))
    problems = []
    for key, checkpoint in refs:
        problem, _ = _weight_problem(checkpoint)
        if problem is None:
            continue
        where = f'{key}: {checkpoint}\n      {problem}'
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
    """A line if a checkpoint given on the command line cannot be loaded.

    A URL or model-zoo name is downloaded to the cache first, as mmdet's tools do.
    With ``verify``, a local file that is truncated or corrupt is named too (its
    records checked against their CRC-32, :func:`ssd_plugin.fileio.checkpoint_problem`;
    a file of torch's legacy non-zip format passes unchecked).
    """
    problem, path = _weight_problem(checkpoint)
    if problem is not None:
        if problem.startswith('file not found'):
            return [f'{what} not found: {checkpoint} (resolved: {path})']
        return [f'{what} {checkpoint}: {problem}; or pass a local file']
    if verify and path is not None and osp.isfile(path):
        problem = checkpoint_problem(path, allow_legacy=True)
        return [f'{what} {checkpoint}: {problem}'] if problem else []
    return []
