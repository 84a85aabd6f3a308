"""An upper bound on the coverage of ANY SSD default-box setting, against the grid ceiling.

SSD gives a level two box sizes: s (the square and every ratio box, area s^2) and
s' = sqrt(min * max) (the extra square). Bound: on level 0, search (s, s') over a
grid, with EVERY aspect ratio allowed for s (a continuum: more than any ratio list);
on the other levels, let every object have its own best box (the grid ceiling there).
Run from the repo root as a module, so that the analysis in tools/analysis_tools/ imports
without a path edit (docs/default_boxes.md, "Small objects on a coarse grid"):
    python -m docs.scripts.default_boxes_ssd_bound CONFIG [ordered]
"ordered" keeps s' >= s (max_size >= min_size).
"""

import argparse

import numpy as np
import torch
from mmengine import Config

import ssd_plugin  # noqa: F401  (registers the plugin's components)
from tools.analysis_tools.default_box_analysis.coverage import (
    best_centred_iou,
    grid_ceiling,
    grid_offsets,
    shape_ious,
)
from tools.analysis_tools.default_box_analysis.ground_truth import (
    anchor_generator_cfg,
    build_anchor_generator,
    load_train_boxes,
)


def main() -> None:
    """Print the bound for the config on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='an SSD config (its train_dataloader is read)')
    parser.add_argument(
        'ordered', nargs='?', choices=['ordered'], help="keep s' >= s (max_size >= min_size)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = Config.fromfile(args.config)
    thr = 0.5
    gen = build_anchor_generator(anchor_generator_cfg(cfg, args.config))
    gt = load_train_boxes(cfg)
    b = torch.from_numpy(gt.boxes).double()
    gw, gh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    offs = grid_offsets(gt, gen)
    ceil = grid_ceiling(gen, gt, thr)
    print(f'{len(gw)} ground truths; grid ceiling {ceil.reachable.mean():.4f}')
    other = torch.zeros(len(gw), dtype=torch.bool)
    for dx, dy in offs[1:]:
        other |= best_centred_iou(gw, gh, dx.double(), dy.double()) >= thr - 1e-9
    dx0, dy0 = (o.double() for o in offs[0])
    print(f'reachable on levels 1+ (own best box each): {other.float().mean():.4f}')
    sizes = torch.exp(torch.linspace(np.log(4), np.log(80), 120)).double()
    ratios = torch.exp(torch.linspace(np.log(1 / 5), np.log(5), 81)).double()
    any_ratio = torch.zeros(len(sizes), len(gw), dtype=torch.bool)
    square = torch.zeros(len(sizes), len(gw), dtype=torch.bool)
    for i, s in enumerate(sizes):
        wa, ha = (s * ratios.sqrt())[:, None], (s / ratios.sqrt())[:, None]
        any_ratio[i] = (shape_ious(wa, ha, gw, gh, dx0, dy0) >= thr - 1e-9).any(0)
        square[i] = shape_ious(s.view(1, 1), s.view(1, 1), gw, gh, dx0, dy0)[0] >= thr - 1e-9
    best = (0.0, None)
    for i in range(len(sizes)):
        cov = (any_ratio[i][None] | square | other[None]).float().mean(1)
        if args.ordered:  # s' >= s (max_size >= min_size)
            cov[:i] = 0
        j = int(cov.argmax())
        if cov[j] > best[0]:
            best = (float(cov[j]), (float(sizes[i]), float(sizes[j])))
    print(
        f'upper bound of any SSD setting: {best[0]:.4f} with s = {best[1][0]:.2f}, '
        f"s' = {best[1][1]:.2f} on level 0 (every ratio for s; levels 1+ at their ceiling)"
    )
    print(f'gap to the ceiling: {ceil.reachable.mean() - best[0]:.4f}')


if __name__ == '__main__':
    main()
