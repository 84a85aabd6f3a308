"""Test (and evaluate) a detector checkpoint (mmdet-compatible CLI).

Examples::

    python tools/test.py CONFIG CHECKPOINT                   # prints the COCO metrics
    python tools/test.py CONFIG CHECKPOINT --show-dir vis    # also saves drawn detections
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    bash tools/dist_test.sh CONFIG CHECKPOINT 2

A relative ``--show-dir`` is placed under ``WORK_DIR/TIMESTAMP/`` as in mmdet;
the path is printed at the end. Missing data or checkpoint files end the run
with a message that says how to get them (exit status 2), as does a truncated
or corrupt checkpoint, or one whose weights do not fit the config's model
(missing, unexpected and reshaped weights named).
"""

import argparse
import functools
import os.path as osp
import sys
from typing import List, Optional

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmengine.config import Config
from mmengine.logging import print_log

import ssd_plugin  # noqa: F401  (registers the plugin, applies the checkpoint fix)
from ssd_plugin.apis.check_run import check_run, run_tool
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import (
    add_model_file_args,
    add_runner_args,
    build_runner,
    load_tool_config,
    set_model_files,
)
from ssd_plugin.apis.weights import check_checkpoint_file_fits


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmdet's ``tools/test.py`` flags, without ``--tta``)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    add_model_file_args(parser)
    parser.add_argument('--work-dir', help='the directory to save the evaluation metrics in')
    parser.add_argument('--out', help='dump the predictions to a pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument(
        '--show-dir',
        help='save images with drawn predictions here; a relative path is placed under '
        'WORK_DIR/TIMESTAMP/',
    )
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    add_runner_args(parser, 'test_dataloader.dataset.data_root=/data/coco/')
    return parser.parse_args(argv)


def _add_visualization(cfg: Config) -> None:
    """Give a config without them mmdet's visualization hook and visualizer, so that
    mmdet's ``trigger_visualization_hook`` can turn drawing on."""
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = {}
    if 'visualization' not in cfg.default_hooks:
        print_log('adding default_hooks.visualization=DetVisualizationHook', logger='current')
        cfg.default_hooks['visualization'] = dict(type='mmdet.DetVisualizationHook')
    if cfg.get('visualizer') is None:
        cfg.visualizer = dict(
            type='mmdet.DetLocalVisualizer',
            vis_backends=[dict(type='LocalVisBackend')],
            name='visualizer',
        )


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command line to it.

    Raises:
        RunCheckError: when the config, checkpoint or test data are missing.
    """
    cfg = load_tool_config(
        args.config, args.launcher, args.cfg_options, args.work_dir, args.channels_last
    )
    files = set_model_files(cfg, args.backend, args.checkpoint, args.onnx, args.config)
    if args.show or args.show_dir:
        _add_visualization(cfg)
        trigger_visualization_hook(cfg, args)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise RunCheckError(f'--out must name a .pkl file, got {args.out}')
    check_run(cfg, args.config, 'test', checkpoints=files)
    return cfg


def _test(cfg: Config, args: argparse.Namespace) -> None:
    runner = build_runner(cfg)
    if cfg.get('load_from'):  # --backend pytorch: refuse weights of another model
        check_checkpoint_file_fits(runner.model, cfg.load_from, args.config)
    if args.out is not None:
        from mmdet.evaluation import DumpDetResults

        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()
    if args.show_dir:
        out_dir = osp.join(runner.work_dir, runner.timestamp, args.show_dir)
        print_log(f'drawn detections saved in {out_dir}', logger='current')


def main(argv: Optional[List[str]] = None) -> int:
    """Test; returns the exit status (2 when something needed is missing)."""
    args = parse_args(argv)
    return run_tool(args, 'test', build_config, functools.partial(_test, args=args))


if __name__ == '__main__':
    sys.exit(main())
