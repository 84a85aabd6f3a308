"""Loading a config the way every tool does, and building its Runner."""

import ast
import logging
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from ssd_plugin.registry import RUNNERS, SCOPE
from ssd_plugin.utils.strict_args import closest

from .device import adapt_to_device
from .run_check_error import RunCheckError

__all__ = ['build_runner', 'config_syntax_error', 'load_tool_config', 'new_key_notes']


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
