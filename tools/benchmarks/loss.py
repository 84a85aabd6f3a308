"""``loss``: targets + loss (forward and backward) of the plugin's SSDHead
against mmdet's SSDHead on the same inputs.

Both heads get the same weights, the same head outputs and the same ground
truth, 80 classes, drawn from one of two distributions (``--objects``, see
``OBJECTS``). ``--profile`` also prints torch.profiler's top operators of each side.
Both heads are built from the ``SSDHead`` dict of the shipped SSD300/SSD512
config: mmdet's in mmdet's own scope with its own anchor generator, assigner
and sampler and the train_cfg of mmdet's ``ssd/ssd300_coco.py``
(``configs/baselines/mmdet_ssd300_coco.py``); ``import ssd_plugin`` gives its
class the missing ``loss_cls``, which its loss path does not read.
"""

import argparse
import copy
import os.path as osp
from functools import partial
from typing import Dict, List

import torch
from mmengine.structures import InstanceData

from ._common import add_device_args, report, time_fns

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')
HEAD_CONFIGS = {300: '_base_/models/ssd300.py', 512: 'ssd512_coco.py'}
MMDET_CONFIG = 'baselines/mmdet_ssd300_coco.py'  # mmdet's ssd/ssd300_coco.py
# Feature map sides of SSD300's six and SSD512's seven levels (Liu et al. 2016, Table/Fig. 2).
SSD_FEAT_SIZES = {300: (38, 19, 10, 5, 3, 1), 512: (64, 32, 16, 8, 4, 2, 1)}


def build_heads(size: int, num_classes: int = 80):
    """The plugin's head and mmdet's (its own scope), with identical weights."""
    from mmengine.config import Config, ConfigDict

    from ssd_plugin.registry import MODELS

    model = Config.fromfile(osp.join(CONFIGS, HEAD_CONFIGS[size])).model
    mmdet_train_cfg = Config.fromfile(osp.join(CONFIGS, MMDET_CONFIG)).model.train_cfg
    head = {k: v for k, v in model.bbox_head.items() if k != 'type'}
    head['num_classes'] = num_classes
    ours = MODELS.build(ConfigDict(type='SSDHead', train_cfg=model.train_cfg, **head))
    theirs = MODELS.build(
        ConfigDict(
            type='SSDHead', _scope_='mmdet', train_cfg=mmdet_train_cfg, **copy.deepcopy(head)
        )
    )
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


OBJECTS = {  # name: (max objects per image, side range in px as (lo, hi); None: COCO-like)
    'coco': (15, None),  # sides of 4 to 0.4 * size + 4 px
    'small': (7, (4.0, 90.0)),  # far fewer positives: the dense per-prior work dominates
}


def make_batch(head, size: int, batch: int, device: str, seed: int = 0, objects: str = 'coco'):
    """Head outputs (leaf tensors) plus ground truth (``OBJECTS[objects]``) for ``batch``
    images."""
    max_objects, sides = OBJECTS[objects]
    g = torch.Generator().manual_seed(seed)
    cls_scores, bbox_preds = [], []
    for fs, n in zip(SSD_FEAT_SIZES[size], head.num_base_priors):
        cls_scores.append(torch.randn(batch, n * head.cls_out_channels, fs, fs, generator=g))
        bbox_preds.append(torch.randn(batch, n * 4, fs, fs, generator=g) * 0.1)
    cls_scores = [c.to(device).requires_grad_() for c in cls_scores]
    bbox_preds = [b.to(device).requires_grad_() for b in bbox_preds]
    gts = []
    for _ in range(batch):
        n = int(torch.randint(1, max_objects + 1, (1,), generator=g))
        if sides is None:
            xy = torch.rand(n, 2, generator=g) * size * 0.8
            wh = torch.rand(n, 2, generator=g) * size * 0.4 + 4
        else:
            lo, hi = sides
            wh = torch.rand(n, 2, generator=g) * (hi - lo) + lo
            xy = torch.rand(n, 2, generator=g) * (size - wh)
        gts.append(
            InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1).to(device),
                labels=torch.randint(0, head.num_classes, (n,), generator=g).to(device),
            )
        )
    meta = dict(img_shape=(size, size), pad_shape=(size, size), batch_input_shape=(size, size))
    return cls_scores, bbox_preds, gts, [dict(meta) for _ in range(batch)]


def step(head, cls_scores, bbox_preds, gts, metas) -> float:
    """One targets + loss step of ``head``, forward and backward; the summed loss."""
    for t in cls_scores + bbox_preds:
        t.grad = None  # as optimizer.zero_grad(): no accumulation into old grads
    losses = head.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    return float(total.detach())


def profile(name: str, fn, repeat: int, row_limit: int = 12) -> None:
    """Print torch.profiler's operators of ``fn`` by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeat):
            fn()
    print(f'\nprofile of {name} ({repeat} steps), by self CPU time\n')
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=row_limit))


def run(
    sizes: List[int],
    batches: List[int],
    device: str,
    repeat: int,
    objects: str = 'coco',
    profile_steps: int = 0,
) -> List[Dict]:
    """A row per (size, batch): both heads' median step time (alternating) and loss."""
    rows = []
    for size in sizes:
        ours, theirs = (head.to(device) for head in build_heads(size))
        for batch in batches:
            inputs = make_batch(ours, size, batch, device, objects=objects)
            steps = [partial(step, ours, *inputs), partial(step, theirs, *inputs)]
            loss_ours, loss_theirs = steps[0](), steps[1]()
            (t_ours, t_theirs), _ = time_fns(*steps, repeat=repeat, cuda=device.startswith('cuda'))
            rows.append(
                dict(
                    input=size,
                    batch=batch,
                    objects=objects,
                    device=device,
                    threads=torch.get_num_threads(),
                    mmdet_ms=t_theirs * 1e3,
                    ours_ms=t_ours * 1e3,
                    speedup=t_theirs / t_ours,
                    loss_diff=abs(loss_ours - loss_theirs),
                )
            )
            if profile_steps:
                tag = f'SSD{size} batch {batch}, {objects}'
                profile(f'ours, {tag}', steps[0], profile_steps)
                profile(f'mmdet, {tag}', steps[1], profile_steps)
    return rows


def main(args: argparse.Namespace) -> dict:
    from ssd_plugin import register_all_modules

    register_all_modules(init_default_scope=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(args.sizes, args.batches, args.device, args.repeat, args.objects, args.profile)
    title = f'targets + loss, forward and backward (median of {args.repeat} runs)'
    return report('loss', title, rows, list(rows[0]))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser('loss', help='targets + loss vs mmdet SSDHead')
    parser.add_argument('--sizes', type=int, nargs='+', default=[300, 512], choices=[300, 512])
    parser.add_argument('--batches', type=int, nargs='+', default=[8, 32])
    add_device_args(parser)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument(
        '--objects',
        default='coco',
        choices=sorted(OBJECTS),
        help='ground truth: coco (1-15 boxes per image) or small (1-7 boxes of 4-90 px)',
    )
    parser.add_argument(
        '--profile',
        type=int,
        default=0,
        metavar='STEPS',
        help='also print a torch.profiler table of each side over STEPS steps',
    )
    parser.set_defaults(func=main)
