"""The weights a run loads: pretrained weights (``init_cfg`` of type
``Pretrained``, ``load_from``), command-line checkpoints, the checkpoint
``--resume`` continues from, and whether a checkpoint fits the model.

A weight that is a URL or a model-zoo name (``open-mmlab://``, ``torchvision://``)
and is not in the download cache is downloaded there before the run, to the
file mmengine's loader reads. Only when that download fails (no network, an
unreachable host, a wrong URL) does the run stop, with a message that names the
file, where to put it, how to point to a local copy and how to do without it.

mmengine's ``load_checkpoint`` is not strict: a checkpoint of another model
loads partly, with "size mismatch" lines in the log, and ``tools/test.py`` or
``tools/infer.py`` would then report a partly random model with exit status 0.
:func:`check_checkpoint_file_fits` refuses it, naming the missing, unexpected and
reshaped weights.
"""

import os
import os.path as osp
import re
import socket
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

import mmengine
import torch
from mmengine.runner import checkpoint as mmengine_checkpoint

from ssd_plugin.fileio import checkpoint_problem, work_dir_checkpoints

from .run_check_error import RunCheckError

__all__ = [
    'check_checkpoint_file_fits',
    'checkpoint_problems',
    'find_resume_checkpoint',
    'locate_weight',
    'resume_problem',
    'weight_problems',
]

# Seconds without an answer after which a download is given up (no run hangs on a
# silent host); a slow but live download is not cut off.
DOWNLOAD_TIMEOUT = 60.0


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
        if '://' in checkpoint:
            return None, None, None
        return None, osp.abspath(osp.expanduser(checkpoint)), None
    if url.startswith(
        ('http://', 'https://')
    ):  # torch.hub's cache, where mmengine's load_url puts it
        name = osp.basename(urlparse(url).path)
        return url, osp.join(torch.hub.get_dir(), 'checkpoints', name), None
    # an open-mmlab entry that names a file under mmengine's home
    return None, osp.join(mmengine_checkpoint._get_mmengine_home(), url), None


def _fetch(url: str, path: str) -> Optional[str]:
    """Download ``url`` to ``path`` (the cache); None, or why the download failed.

    Only the first process of a machine downloads (``LOCAL_RANK`` 0 or unset);
    the others leave it to mmengine's loader, which waits for rank 0.
    """
    if int(os.getenv('LOCAL_RANK', '0')) != 0:
        return None
    os.makedirs(osp.dirname(path), exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        torch.hub.download_url_to_file(url, path, progress=True)
    except Exception as err:  # URLError, HTTPError, timeouts, a full disk, ...
        return f'{type(err).__name__}: {err}'
    finally:
        socket.setdefaulttimeout(previous)
    return None


def _weight_problem(checkpoint: str) -> Tuple[Optional[str], Optional[str]]:
    """``(problem, path)`` of one weight reference (downloaded first if need be)."""
    url, path, error = locate_weight(checkpoint)
    if error is not None or path is None or osp.isfile(path):
        return error, path  # None for a remote scheme mmengine reads itself, or a file on disk
    if url is None:
        return f'file not found: {path}', path
    failure = _fetch(url, path)
    if failure is None:
        return None, path
    shown = url if url == checkpoint else f'{url} ({checkpoint})'
    return (
        f'could not be downloaded from {shown}: {failure}\n'
        f'      Download it yourself and put it at {path} (TORCH_HOME moves that cache)'
    ), path


def _pretrained_refs(node: Any, key: str) -> Iterator[Tuple[str, str]]:
    """``(cfg-options key of the init_cfg, checkpoint)`` of every Pretrained init."""
    if isinstance(node, (list, tuple)):
        for i, sub in enumerate(node):
            yield from _pretrained_refs(sub, f'{key}.{i}')
    elif not hasattr(node, 'items'):
        return
    elif node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
        yield key, node['checkpoint']
    else:
        for sub_key, value in node.items():
            if sub_key == 'pretrained' and isinstance(value, str):
                yield f'{key}.pretrained', value
            else:
                yield from _pretrained_refs(value, f'{key}.{sub_key}')


def weight_problems(cfg: Any, include_load_from: bool = True) -> List[str]:
    """Pretrained weights of the model (and ``load_from``) that cannot be loaded.

    Args:
        cfg: The full config.
        include_load_from: Also check ``cfg.load_from`` (a training run that
            fine-tunes from it).

    Returns:
        One multi-line problem per weight, each with its fixes.
    """
    refs = list(_pretrained_refs(cfg.get('model'), 'model'))
    if include_load_from and isinstance(cfg.get('load_from'), str):
        refs.append(('load_from', cfg['load_from']))
    problems = []
    for key, checkpoint in refs:
        problem, _ = _weight_problem(checkpoint)
        if problem is None:
            continue
        if key == 'load_from':
            local, fix = key, '--cfg-options load_from=None (start from the initialisation instead)'
        else:
            local = key if key.endswith('.pretrained') else f'{key}.checkpoint'
            fix = f'--cfg-options {key}=None (train from scratch)'
        problems.append(
            f'{key}: {checkpoint}\n      {problem}\n'
            f'      or point to a local copy: --cfg-options {local}=/path/to/file.pth\n'
            f'      or do without it: {fix}'
        )
    return problems


def checkpoint_problems(
    checkpoint: str, what: str = 'checkpoint', legacy: bool = True
) -> List[str]:
    """A line if a checkpoint given on the command line cannot be loaded.

    A URL or model-zoo name is downloaded to the cache first, as mmdet's tools
    do. A local file that is truncated or corrupt is named too (its records
    checked against their CRC-32, :func:`ssd_plugin.fileio.checkpoint_problem`);
    with ``legacy``, a file of torch's legacy non-zip format passes unchecked.
    """
    problem, path = _weight_problem(checkpoint)
    if problem is not None:
        if problem.startswith('file not found'):
            return [f'{what} not found: {checkpoint} (resolved: {path})']
        return [f'{what} {checkpoint}: {problem}; or pass a local file']
    if path is not None and osp.isfile(path):
        problem = checkpoint_problem(path, allow_legacy=legacy)
        return [f'{what} {checkpoint}: {problem}'] if problem else []
    return []


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint to resume from in ``work_dir``, and a note when it is not
    the one ``last_checkpoint`` names.

    A checkpoint is passed over when it is truncated (a run killed while saving
    without the ``atomic_local`` backend) or corrupt (its bytes no longer match
    the CRC-32 checksums ``torch.save`` stored).

    Returns:
        ``(path, note)``: ``last_checkpoint``'s file when it is intact;
        otherwise the newest intact ``*.pth`` of ``work_dir`` (or None), with
        a note saying why and naming the checkpoints passed over.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    last, found = work_dir_checkpoints(work_dir)
    problem = checkpoint_problem(last) if last is not None else None
    if last is not None and problem is None:
        return last, None
    if last is None and not found:
        return None, None
    why = f'{record} names {last}: {problem}' if last else f'{record} is missing or empty'
    skipped, intact = [], None
    for path in found:  # newest first; each costs one read of the file
        bad = checkpoint_problem(path) if path != last else problem
        if not bad:
            intact = path
            break
        if path != last:
            skipped.append(f'{path} ({bad})')
    if skipped:
        why += '; not usable either: ' + ', '.join(skipped)
    if intact is None:
        return None, f'{why}; {work_dir} holds no intact checkpoint; starting afresh'
    return intact, f'{why}; resuming from the newest intact checkpoint {intact}'


def resume_problem(checkpoint: str, work_dir: Optional[str] = None) -> Optional[str]:
    """The message section when ``--resume CHECKPOINT`` cannot be resumed from, else None.

    A missing, truncated or corrupt file is named with the intact checkpoints
    of ``work_dir`` to resume from instead.
    """
    lines = [f'  - {p}' for p in checkpoint_problems(checkpoint, 'resume checkpoint', False)]
    if not lines:
        return None
    intact = sorted(p for p in work_dir_checkpoints(work_dir or '')[1] if not checkpoint_problem(p))
    if intact:
        lines.append(f'  Intact checkpoints in {work_dir}: {", ".join(intact)}')
        lines.append(
            '  Pass one of them, or --resume without a path to take the newest intact '
            'checkpoint of the work directory (--work-dir).'
        )
    else:
        lines.append(
            f'  {work_dir or "The work directory"} holds no intact checkpoint; train without '
            '--resume to start afresh.'
        )
    return '\n'.join(['Resume checkpoint not usable:'] + lines)


def _listing(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def check_checkpoint_file_fits(
    model: torch.nn.Module, checkpoint: str, config: str
) -> Tuple[Dict[str, Any], Dict]:
    """Load ``checkpoint`` (on CPU) and raise unless it has exactly the weights of
    ``model`` (a model wrapper is unwrapped).

    Args:
        model: The model the config builds.
        checkpoint: The checkpoint file, named in the message.
        config: The config file, named in the message.

    Returns:
        ``(state_dict, meta)``: its weights, without the ``module.`` prefix of
        DDP, and its ``meta``.

    Raises:
        RunCheckError: when it holds no weights, or naming the missing,
            unexpected and reshaped weights.
    """
    from mmengine.model import is_model_wrapper

    own = (model.module if is_model_wrapper(model) else model).state_dict()
    ckpt = mmengine_checkpoint._load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise RunCheckError(f'Checkpoint {checkpoint} holds no state_dict')
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [
        f'{k} {tuple(state[k].shape)} (model: {tuple(own[k].shape)})'
        for k in own
        if k in state and tuple(getattr(state[k], 'shape', ())) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or reshaped):
        return state, ckpt.get('meta') or {}
    lines = [
        f'Checkpoint {checkpoint} does not fit the model of config {config} '
        f'({len(own)} weights); it was saved from another model or config:'
    ]
    if missing:
        lines.append(f'  {len(missing)} missing in the checkpoint: {_listing(missing)}')
    if unexpected:
        lines.append(f'  {len(unexpected)} unexpected: {_listing(unexpected)}')
    if reshaped:
        lines.append(f'  {len(reshaped)} of another shape: {_listing(reshaped, 4)}')
    lines.append('Use the config the checkpoint was trained with.')
    raise RunCheckError('\n'.join(lines))
