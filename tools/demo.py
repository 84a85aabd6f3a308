"""The demo: generate a dataset, train a small SSD on CPU, evaluate it, draw detections.

Examples::

    python tools/demo.py                      # the README's first command runs this
    python tools/demo.py --epochs 2 --work-dir work_dirs/demo_short
    python tools/demo.py --time-budget 900    # fit the epochs to 15 minutes
    python tools/demo.py --retrain            # train again even if a finished run exists

Steps, each printed as it starts:

1. generate the synthetic COCO-format dataset (``tools/generate_dataset.py``)
   in ``--data-root``, unless it is there already;
2. train ``configs/demo/ssd_cspdarknet_synthetic_cpu.py`` (the log shows the
   progress and an ETA), unless ``--work-dir`` holds a finished run of the
   same settings. Without ``--epochs``, the first training steps are timed
   (``TimeBudgetHook``, in the training processes) and the run trains the
   most epochs, up to the config's, that fit ``--time-budget`` (600 s from
   ``--started-at``, which ``make demo`` sets to its own start), with the
   schedule scaled to them; it prints ``time budget ... -> N epochs, expected
   finish at ...``. The weights depend only on the epochs and the seed:
   ``--epochs N`` gives the same run;
3. evaluate the final checkpoint on the val split with pycocotools (COCO
   bbox mAP, printed and saved to ``WORK_DIR/demo_metrics.json``); after a
   training run this is the validation that training ran on its last epoch;
4. draw the detections of the first ``--num-draw`` val images into
   ``WORK_DIR/infer/vis/`` and write ``WORK_DIR/infer/detections.json``.

The demo ends with a results block: bbox mAP, AP50 and AP_small next to the
paper's COCO figures, the time against the budget, and the paths of the
drawn detections, the loss curve (``WORK_DIR/loss_curve.png``, drawn with
``tools/analysis_tools/analyze_logs.py``) and everything else written.
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional

from ssd_demo.demo import run_demo  # beside this script: Python searches its folder first
from ssd_plugin.apis.tool_config import add_cfg_options_arg
from synthetic_data import DEFAULT_NUM_VAL

TOOLS = osp.dirname(osp.abspath(__file__))
DEMO_CONFIG = osp.join(osp.dirname(TOOLS), 'configs', 'demo', 'ssd_cspdarknet_synthetic_cpu.py')
# Training images: the first 3000 of the generator's 10000 (image i is the same in any
# size of set). The recipe sees each a few times; generating them takes a third of the time.
DEMO_NUM_TRAIN = 3000
# Objects per training image (validation: the generator's 1-6). Busier images give more
# positives a step for the same compute: 7 epochs, bbox mAP 0.442 / 0.396 (seeds 0 / 1)
# against 0.391 / 0.370 with 1-6 (docs/demo.md).
DEMO_TRAIN_OBJECTS = (4, 9)
DEFAULT_TIME_BUDGET = 600  # seconds: `make demo`, creating .venv included, in 10 minutes


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='Train and evaluate SSD on generated data')
    parser.add_argument('--config', default=DEMO_CONFIG, help='the demo config')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='logs, checkpoints, outputs')
    parser.add_argument('--data-root', default='data/synthetic', help='the generated dataset')
    parser.add_argument(
        '--num-train', type=int, default=DEMO_NUM_TRAIN, help='training images to generate'
    )
    parser.add_argument(
        '--num-val', type=int, default=DEFAULT_NUM_VAL, help='val images to generate'
    )
    parser.add_argument(
        '--train-objects',
        type=int,
        nargs=2,
        default=DEMO_TRAIN_OBJECTS,
        metavar=('FEWEST', 'MOST'),
        help='objects per training image to generate (val images: 1 to 6)',
    )
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='train this many epochs (the schedule scaled to them; an epoch of the demo config '
        'is half a pass over its images); default: the most, up to '
        "the config's, that fit --time-budget",
    )
    parser.add_argument(
        '--time-budget',
        type=float,
        default=DEFAULT_TIME_BUDGET,
        help='seconds from --started-at in which the demo should finish: the epochs are fitted '
        'to it from a few timed training steps (default: %(default)s)',
    )
    parser.add_argument(
        '--started-at',
        type=float,
        default=None,
        help='when the budget started, in seconds since the epoch (make demo passes its own '
        "start, so that creating .venv counts); default: the demo's start",
    )
    parser.add_argument('--num-draw', type=int, default=12, help='val images to draw')
    parser.add_argument('--retrain', action='store_true', help='train even if a run is done')
    parser.add_argument(
        '--nproc',
        type=int,
        default=None,
        help='training processes (torchrun, gloo; the CPU threads are split between them); '
        'default: 2 where there are 2+ cores, else 1 (in this process)',
    )
    add_cfg_options_arg(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the demo; returns the exit status."""
    return run_demo(parse_args(argv), train_py=osp.join(TOOLS, 'train.py'))


if __name__ == '__main__':
    sys.exit(main())
