"""Measure how well a config's SSD default boxes fit its training set, and fit better ones.

Examples::

    python tools/analysis_tools/default_boxes.py configs/ssd300_coco.py
    python tools/analysis_tools/default_boxes.py CONFIG --fit --out-dir work_dirs/boxes
    python tools/analysis_tools/default_boxes.py CONFIG --fit --max-ratios 3 \\
        --cfg-options train_dataloader.dataset.data_root=/data/mine/
    python tools/analysis_tools/default_boxes.py CONFIG --input-sizes 384 512 640

It reads the training set through the config's dataset class, scales the
boxes as the train pipeline's fixed Resize would (random augmentation left
out), and reports, overall and per COCO size bin at the network input, the
coverage (share of ground truths whose best default box has IoU >= the
assigner's pos_iou_thr), the mean best IoU, the positives per ground truth
(forced match included) and the levels the matches come from, beside the
grid's ceiling (the coverage no box sizes can beat: the best IoU of any box
centred on a default-box centre). ``--fit`` searches per-level sizes and
aspect ratios on the same levels and strides, keeping every size bin's
coverage, and writes OUT_DIR/fitted_config.py (inheriting CONFIG).
``--input-sizes 384 512 640`` does the same at other input sizes and
recommends one. Everything goes to
OUT_DIR/report.json, with best_iou_hist.png and gt_shapes.png. Exit status 2
on unusable input, with a message saying what is missing.
"""

import argparse
import os.path as osp
import sys
import time
from typing import List, Optional, Tuple

import ssd_plugin  # noqa: F401  (registers the plugin's components)
from default_box_analysis import DefaultBoxAnalysis, DefaultBoxesError
from ssd_plugin import register_all_modules
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import add_cfg_options_arg, load_tool_config


def _floor(word: str) -> Tuple[str, float]:
    """``'small=0.6'`` -> ``('small', 0.6)``."""
    name, _, value = word.partition('=')
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{word!r}: give BIN=SHARE, e.g. small=0.6') from None


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (exit status 2 on a bad option, with what is wrong)."""
    parser = argparse.ArgumentParser(description='Coverage and fitting of SSD default boxes')
    parser.add_argument('config', help='config file (its train_dataloader is read)')
    parser.add_argument('--fit', action='store_true', help='search better sizes and ratios')
    parser.add_argument(
        '--out-dir', help='output directory (default: work_dirs/default_boxes/<config name>)'
    )
    parser.add_argument(
        '--max-ratios',
        type=int,
        help='aspect ratios per level for --fit (boxes per location 2 + 2N); default: keep '
        "each level's count (stock checkpoints keep loading)",
    )
    parser.add_argument(
        '--fit-samples', type=int, default=20000, help='ground truths the search scores'
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the search subset')
    parser.add_argument(
        '--min-coverage',
        nargs='+',
        type=_floor,
        metavar='BIN=SHARE',
        help='coverage floors the fit keeps per COCO size bin, e.g. small=0.6 medium=0.95 '
        "(default: each bin keeps the configured boxes' coverage)",
    )
    parser.add_argument(
        '--allow-unordered-sizes',
        action='store_true',
        help='let the fit give a level smaller boxes than a finer level (default: sizes rise '
        'with the stride)',
    )
    parser.add_argument(
        '--input-sizes',
        nargs='+',
        type=int,
        metavar='SIDE',
        help='also analyse and fit at these input sizes (longer side, the Resize and the '
        'default boxes scaled), compare ceiling, coverage, default boxes and FLOPs, and '
        'recommend one; implies --fit',
    )
    parser.add_argument(
        '--target',
        type=float,
        default=0.95,
        help='coverage the recommended input size should reach (default 0.95)',
    )
    parser.add_argument('--no-plots', action='store_true', help='skip the PNG pictures')
    add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    if args.max_ratios is not None and not (args.fit or args.input_sizes):
        parser.error('--max-ratios applies to --fit only')
    if args.fit_samples < 1:
        parser.error(f'--fit-samples must be >= 1, got {args.fit_samples}')
    if args.input_sizes and min(args.input_sizes) < 1:
        parser.error(f'--input-sizes: give positive sides in pixels, got {args.input_sizes}')
    if not 0 < args.target <= 1:
        parser.error(f'--target must be in (0, 1], got {args.target}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run; returns the exit status."""
    args = parse_args(argv)
    start = time.perf_counter()
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'default_boxes', osp.splitext(osp.basename(args.config))[0]
    )
    try:
        cfg = load_tool_config(args.config, cfg_options=args.cfg_options)
        register_all_modules(init_default_scope=False)
        DefaultBoxAnalysis(
            args.config,
            out_dir,
            fit=args.fit,
            max_ratios=args.max_ratios,
            fit_samples=args.fit_samples,
            seed=args.seed,
            min_coverage=dict(args.min_coverage or []),
            ordered_sizes=not args.allow_unordered_sizes,
            input_sizes=args.input_sizes,
            target=args.target,
            plots=not args.no_plots,
            cfg_options=args.cfg_options,
        ).run(cfg)
    except (DefaultBoxesError, RunCheckError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'report: {osp.join(out_dir, "report.json")} ({time.perf_counter() - start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
