"""The command-line arguments the tools share (``--cfg-options``, the Runner
tools' and the model files of the tools that run a trained model), loading a
config the way every tool does, and building its Runner."""

import argparse
import ast
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from ssd_plugin.registry import RUNNERS, SCOPE
from ssd_plugin.utils.strict_args import closest

from .device import adapt_to_device
from .run_check_error import RunCheckError

__all__ = [
    'add_cfg_options_arg',
    'add_model_file_args',
    'add_runner_args',
    'build_runner',
    'load_tool_config',
    'new_key_notes',
    'set_model_files',
]


def _base_files(path: str, text: str) -> List[str]:
    """The local ``_base_`` files a config names (``pkg::`` bases are skipped)."""
    bases: List[str] = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            names = [value] if isinstance(value, str) else list(value)
            bases += [osp.join(osp.dirname(path), n) for n in names if '::' not in n]
    return bases


def config_syntax_error(config: str, seen: Optional[set] = None) -> Optional[str]:
    """``FILE:LINE:COL: message`` of the first syntax error in ``config`` or its
    ``_base_`` files, which mmengine reports as ``File "<unknown>"``."""
    seen = set() if seen is None else seen
    if config in seen or not osp.isfile(config):
        return None
    seen.add(config)
    with open(config, encoding='utf-8') as f:
        text = f.read()
    try:
        compile(text, config, 'exec')
    except SyntaxError as err:
        line = (err.text or '').rstrip()
        return f'{config}:{err.lineno}:{err.offset}: {err.msg}' + (f'\n    {line}' if line else '')
    for base in _base_files(config, text):
        found = config_syntax_error(base, seen)
        if found:
            return found
    return None


def new_key_notes(cfg: Any, cfg_options: Dict) -> List[str]:
    """A warning per ``--cfg-options`` key that ``cfg`` does not have yet.

    Such a key is added to the config, but nothing may read it: a misspelled
    ``randomnes.seed=1`` or ``filter_cfg.filter_empty_g=False`` would change
    nothing. A key set to None is passed over (``model.backbone.init_cfg=None``
    where the config leaves it out means the same). Each note names the first
    missing part and the closest existing key at that level.
    """
    notes = []
    for key, value in cfg_options.items():
        if value is None:  # e.g. model.backbone.init_cfg=None: absent already means None
            continue
        node, parts = cfg, str(key).split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if hasattr(node, 'keys') and part in node:
                node = node[part]
                continue
            where = '.'.join(parts[:depth]) or 'the config'
            siblings = [str(k) for k in node.keys()] if hasattr(node, 'keys') else []
            hint = closest(part, siblings)
            notes.append(
                f'--cfg-options {key}: {where} has no key {part!r}'
                + (f' (did you mean {hint!r}?)' if hint else '')
                + '; it is added, but nothing may read it'
            )
            break
    return notes


def load_tool_config(
    config: str,
    launcher: str = 'none',
    cfg_options: Optional[Dict] = None,
    work_dir: Optional[str] = None,
    channels_last: bool = False,
) -> Config:
    """Load ``config`` and apply the command-line options common to the tools.

    ``--cfg-options`` are merged (a key the config did not have is warned
    about, with the closest existing one), the default scope falls back to
    ``ssd_plugin``, the work directory is the CLI's, else the config's, else
    ``./work_dirs/<config name>``, ``--channels-last`` adds
    ``ChannelsLastHook``, and the config is adapted to a machine without CUDA
    (each change is logged).

    Raises:
        RunCheckError: when the config file does not exist, or it or one of
            its ``_base_`` files is not valid Python (the file, line and
            column named).
    """
    if not osp.isfile(config):
        raise RunCheckError(f'Config file not found: {config} (resolved: {osp.abspath(config)})')
    try:
        cfg = Config.fromfile(config)
    except SyntaxError as err:  # mmengine names no file: File "<unknown>"
        where = config_syntax_error(config) or f'{config} (or a _base_ file): {err}'
        raise RunCheckError(f'Syntax error in config {where}') from err
    cfg.launcher = launcher
    if cfg_options is not None:
        for note in new_key_notes(cfg, cfg_options):
            print_log(note, logger='current', level=logging.WARNING)
        cfg.merge_from_dict(cfg_options)
    if cfg.get('default_scope') is None:
        cfg.default_scope = SCOPE
    # work_dir priority: CLI > config > config file name
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if channels_last:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type=f'{SCOPE}.ChannelsLastHook')
        ]
    for note in adapt_to_device(cfg, launcher, list(cfg_options or {})):
        print_log(note, logger='current')
    return cfg


def build_runner(cfg: Config) -> Runner:
    """The Runner of ``cfg``: mmengine's, or the config's ``runner_type``."""
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def add_cfg_options_arg(
    parser: argparse.ArgumentParser, example: str = 'train_dataloader.batch_size=4'
) -> None:
    """Add ``--cfg-options`` (mmengine's ``DictAction``), as every config tool takes it.

    Args:
        parser: The tool's parser, changed in place.
        example: The ``key=value`` examples the help text shows.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override settings of the config, as key=value pairs, e.g. {example}; a list '
        'value is key="[a,b]" or key=a,b, nested lists key="[(a,b),(c,d)]" (quotes needed, '
        'no spaces)',
    )


def add_model_file_args(parser: argparse.ArgumentParser) -> None:
    """Add the ``checkpoint`` positional (optional), ``--backend`` and ``--onnx``.

    :func:`set_model_files` checks them together (a checkpoint for ``pytorch``,
    an ONNX file for ``onnxruntime``) and applies them to the config.

    Args:
        parser: The tool's parser, changed in place, right after its ``config``.
    """
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (not with onnxruntime)')
    parser.add_argument('--backend', default='pytorch', choices=('pytorch', 'onnxruntime'))
    parser.add_argument('--onnx', help='the tools/export_onnx.py file (--backend onnxruntime)')


def add_runner_args(parser: argparse.ArgumentParser, cfg_options_example: str) -> None:
    """Add ``--cfg-options``, ``--channels-last``, ``--launcher`` and ``--local-rank``.

    Args:
        parser: The tool's parser, changed in place.
        cfg_options_example: The ``key=value`` examples the help text shows.
    """
    add_cfg_options_arg(parser, cfg_options_example)
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='run the model in the channels_last memory format (adds ChannelsLastHook)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank;
    # run_tool exports it as LOCAL_RANK unless the launcher set that.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def set_model_files(
    cfg: Config,
    backend: str,
    checkpoint: Optional[str],
    onnx_file: Optional[str],
    config_path: str = 'the config',
) -> List[Tuple[str, str]]:
    """Apply :func:`add_model_file_args`' arguments to ``cfg``; the ``(what, path)`` files
    to check.

    ``pytorch``: ``cfg.load_from = checkpoint``. ``onnxruntime``: the model becomes
    the ONNX file's (:func:`ssd_plugin.apis.onnxruntime_detector.use_onnx_model`).

    Raises:
        RunCheckError: for a missing or doubled model file, or an ONNX file
            that does not fit the config.
    """
    if backend == 'pytorch':
        if onnx_file:
            raise RunCheckError('--onnx needs --backend onnxruntime')
        if not checkpoint:
            raise RunCheckError('give a CHECKPOINT (or --backend onnxruntime --onnx FILE)')
        cfg.load_from = checkpoint
        return [('checkpoint', checkpoint)]
    if not onnx_file:
        raise RunCheckError(
            '--backend onnxruntime needs --onnx FILE (written by tools/export_onnx.py)'
        )
    if checkpoint:
        raise RunCheckError(
            f'--backend onnxruntime runs {onnx_file}: give no CHECKPOINT ({checkpoint})'
        )
    from .onnxruntime_detector import use_onnx_model

    use_onnx_model(cfg, onnx_file, config_path)
    return []
