"""What the demo (``tools/demo.py``) shows at its end: the loss curve, drawn with
mmdet's ``analyze_logs.py``, and the results block, the COCO metrics of the run
next to the paper's."""

import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from ssd_plugin.apis.mmdet_analysis_tool import run_mmdet_tool

__all__ = ['LOSS_CURVE', 'PAPER_COCO', 'plot_loss_curve', 'results_block']

LOSS_CURVE = 'loss_curve.png'  # in the work directory, drawn after training
# The paper's COCO test-dev results (arXiv 1512.02325, Table 5: the models with the
# expansion augmentation): mAP@[.5:.95], AP50, AP_small. Another dataset, for scale only.
PAPER_COCO = {'SSD300*': (0.251, 0.431, 0.066), 'SSD512*': (0.288, 0.485, 0.109)}


def plot_loss_curve(work_dir: str) -> Optional[str]:
    """Plot the training losses of the newest run in ``work_dir`` with the project's
    ``tools/analysis_tools/analyze_logs.py`` (mmdet's, in this process); returns the
    picture's path, or None (with the reason printed) if it could not be drawn."""
    out = osp.join(work_dir, LOSS_CURVE)
    keys = ['loss', 'loss_cls', 'loss_bbox']
    argv = ['plot_curve', work_dir, '--keys', *keys, '--legend', *keys]
    argv += ['--title', 'demo: training loss', '--out', out]
    try:
        run_mmdet_tool('analyze_logs', argv)
    except Exception as err:  # the picture is a by-product: say why, keep the results
        print(f'warning: no loss curve ({type(err).__name__}: {err})', file=sys.stderr)
        return None
    return out


def results_block(
    metrics: Dict[str, float],
    epochs: int,
    timing: str,
    paths: List[Tuple[str, Optional[str]]],
    epoch_splits: int = 1,
) -> str:
    """The lines that end the demo: the COCO metrics next to the paper's, the time, the
    pictures and files. ``epoch_splits``: epochs a pass over the training images
    (``SplitEpochSampler``), to say how many passes the epochs were."""

    def metric(key: str) -> str:
        value = metrics.get(f'coco/bbox_{key}')
        return 'n/a' if value is None else f'{value:.3f}'

    plural = 's' if epochs != 1 else ''
    passes = f' ({epochs / epoch_splits:g} passes)' if epoch_splits > 1 else ''
    lines = [
        '',
        '==== demo finished ====',
        f'{"":<16}{"mAP@[.5:.95]":>13}{"AP50":>7}{"AP_small":>10}',
        f'{"this run (val)":<16}{metric("mAP"):>13}{metric("mAP_50"):>7}{metric("mAP_s"):>10}'
        f'   generated shapes, 128 px, {epochs} epoch{plural}{passes} from scratch on CPU',
    ]
    for name, (ap, ap50, ap_s) in PAPER_COCO.items():
        lines.append(
            f'{name:<16}{ap:>13.3f}{ap50:>7.3f}{ap_s:>10.3f}'
            '   COCO test-dev (Liu et al. 2016, Table 5), another task: for scale only'
        )
    lines.append(f'time: {timing}')
    lines += [f'{name + ":":<18}{osp.abspath(path)}' for name, path in paths if path]
    return '\n'.join(lines)
