"""Loading a config the way every tool does, and building its Runner."""

import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from ssd_plugin.registry import RUNNERS, SCOPE

from .device import adapt_to_device
from .run_check_error import check_config_file

__all__ = ['build_runner', 'load_tool_config']


def load_tool_config(
    config: str,
    launcher: str = 'none',
    cfg_options: Optional[Dict] = None,
    work_dir: Optional[str] = None,
    channels_last: bool = False,
) -> Config:
    """Load ``config`` and apply the command-line options common to the tools.

    ``--cfg-options`` are merged, the default scope falls back to
    ``ssd_plugin``, the work directory is the CLI's, else the config's, else
    ``./work_dirs/<config name>``, ``--channels-last`` adds
    ``ChannelsLastHook``, and the config is adapted to a machine without CUDA
    (each change is logged).

    Raises:
        RunCheckError: when the config file does not exist.
    """
    check_config_file(config)
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
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
