"""Train a detector with the ssd_plugin components (mmdet-compatible CLI).

Examples::

    python tools/train.py CONFIG
    python tools/train.py CONFIG --resume              # latest complete checkpoint in work_dir
    python tools/train.py CONFIG --resume work_dirs/x/iter_300.pth
    python tools/train.py CONFIG --cfg-options train_cfg.max_epochs=2
    bash tools/dist_train.sh CONFIG 2                  # 2 processes (gloo on CPU)

Before the Runner is built, the data, pretrained weights and resume checkpoint
the run needs are checked, and a missing one ends the run with a message that
says how to get it (exit status 2), as does an annotation file that is not
valid JSON (named with the parse position), or a misspelled hook setting. A
work directory that another live run holds is refused (its pid and host
named). Temporary files that killed checkpoint writes left in the work
directory are removed at start.
"""

import argparse
import logging
import sys
from typing import List, Optional

from mmengine.config import Config
from mmengine.logging import print_log

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.apis.check_run import check_run, run_tool
from ssd_plugin.apis.device import enable_amp
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import add_runner_args, build_runner, load_tool_config
from ssd_plugin.apis.weights import find_resume_checkpoint
from ssd_plugin.apis.work_dir_lock import hold_work_dir
from ssd_plugin.fileio import remove_stale_temp_files


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmdet's ``tools/train.py`` flags)."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed precision: fp16 on GPU, bf16 autocast on a CPU with native bf16',
    )
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='enable automatically scaling LR.'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the latest checkpoint '
        'in the work directory',
    )
    add_runner_args(parser, 'train_dataloader.batch_size=4 or model.backbone.init_cfg=None')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line to it.

    Raises:
        RunCheckError: when the config, data, weights or checkpoint are
            missing, or an option cannot be applied.
    """
    cfg = load_tool_config(
        args.config, args.launcher, args.cfg_options, args.work_dir, args.channels_last
    )
    if args.amp:
        print_log(enable_amp(cfg), logger='current')
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr') or {}
        if 'base_batch_size' not in scale:
            raise RunCheckError(
                f'--auto-scale-lr needs `auto_scale_lr = dict(enable=False, base_batch_size=N)` '
                f'in the config {args.config} (N: the total batch size its lr was tuned for)'
            )
        scale['enable'] = True
        cfg.auto_scale_lr = scale
    # resume priority: given checkpoint > latest checkpoint in work_dir
    if args.resume == 'auto':
        # last_checkpoint's file, or the newest complete one if that is truncated.
        cfg.resume = True
        cfg.load_from, note = find_resume_checkpoint(cfg.work_dir)
        if note:
            print_log(note, logger='current', level=logging.WARNING)
            # mmengine would otherwise follow last_checkpoint to the bad file.
            cfg.resume = cfg.load_from is not None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    check_run(cfg, args.config, 'train')
    return cfg


def _train(cfg: Config) -> None:
    with hold_work_dir(cfg.work_dir):  # refuses a work dir a live run holds
        # Temporary files of checkpoint writes killed earlier (never one being written).
        for path in remove_stale_temp_files(cfg.work_dir):
            print_log(f'removed {path}, left by an interrupted checkpoint write', logger='current')
        build_runner(cfg).train()


def main(argv: Optional[List[str]] = None) -> int:
    """Train; returns the exit status (2 when something needed is missing)."""
    return run_tool(parse_args(argv), 'train', build_config, _train)


if __name__ == '__main__':
    sys.exit(main())
