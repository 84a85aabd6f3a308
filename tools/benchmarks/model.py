"""``train`` and ``infer``: whole-model speed of a plugin config against its
mmdet baseline config, on the same random weights (the plugin's state dict
loaded into the baseline) and the same inputs.

* ``train``: images/s and peak memory of a full train step (data preprocessor,
  forward, targets and loss, backward, SGD step), fp32 or AMP (``--amp``: bf16
  autocast on CPU, fp16 on GPU), per batch size; ``--channels-last``: NHWC.
* ``infer``: latency at batch 1 and throughput at a larger batch, NMS included,
  and the share of detections both sides agree on (same label, IoU > 0.9).
  ``--onnxruntime`` adds the plugin model exported once (dynamic batch) and run
  by ``OnnxRuntimeDetector`` on the same batch, graph optimisations off and on,
  1 and 2 intra-op threads.

Each (side, setting) runs in a fresh process, so peak memory is that run's
alone (CUDA: ``max_memory_allocated``; CPU: growth of the process's max RSS).
mmdet's SSDHead gets ``loss_cls = None`` (mmdet 3.3.0 bug, it cannot predict
otherwise); nothing else is changed.
"""

import argparse
import contextlib
import os.path as osp
import resource
import tempfile
from typing import Callable, Dict, Optional, Tuple

import torch

from ._common import add_device_args, in_fresh_process, markdown_table, report, time_fns

# A plugin config and its mmdet baseline config, per model.
PAIRS = {
    'ssd300': ('configs/ssd300_coco.py', 'configs/baselines/mmdet_ssd300_coco.py'),
    'ssd512': ('configs/ssd512_coco.py', 'configs/baselines/mmdet_ssd512_coco.py'),
    'ssdlite': (
        'configs/ssdlite_mobilenetv2_coco.py',
        'configs/baselines/mmdet_ssdlite_mobilenetv2_coco.py',
    ),
}
_SETTING = ['model', 'batch', 'amp', 'channels_last', 'device']
_FIGURES = ['mmdet_img_s', 'ours_img_s', 'speedup', 'mmdet_peak_mb', 'ours_peak_mb']
COLUMNS = {  # the fields of a row, as printed and written
    'train': _SETTING + _FIGURES,
    'infer': _SETTING + ['mmdet_ms', 'ours_ms'] + _FIGURES + ['agreement'],
}


def build(config: str, device: str, state_dict=None):
    """Model of ``config`` with random init (no pretrained download), and its input size."""
    from mmengine.registry import MODELS, DefaultScope

    from ssd_plugin import register_all_modules
    from ssd_plugin.apis.tool_config import load_tool_config

    register_all_modules(init_default_scope=False)
    cfg = load_tool_config(config, cfg_options={'model.backbone.init_cfg': None})
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model.to(device), cfg.input_size


def packed_batch(batch: int, size: int, num_classes: int, device: str) -> Dict:
    """mmdet's ``demo_mm_inputs``: ``batch`` random images of ``size``, 8 boxes each."""
    from mmdet.testing import demo_mm_inputs

    packed = demo_mm_inputs(
        batch, [(3, size, size)] * batch, num_items=[8] * batch, num_classes=num_classes
    )
    packed['inputs'] = [x.to(device) for x in packed['inputs']]
    return packed


def export_plugin_model(config: str, weights, out: str) -> None:
    """Export the plugin model of ``config`` with ``weights`` to ONNX file ``out``."""
    from ssd_plugin.apis.onnx_export import export_onnx
    from ssd_plugin.deploy import SSDOnnxWrapper

    model, size = build(config, 'cpu', weights)
    export_onnx(SSDOnnxWrapper(model.eval(), (size, size)), out)


def train_step(model, get_data, autocast=None):
    """One SGD step (momentum 0.9) of ``model`` on ``get_data()``'s batch, as a function."""
    optim = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        data = get_data()
        with autocast or contextlib.nullcontext():
            losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    return step


def measure(
    kind: str,
    config: str,
    device: str,
    batch: int,
    amp: bool,
    iters: int,
    weights,
    threads: int = 0,
    channels_last: bool = False,
    onnx: Optional[Tuple[str, bool]] = None,
) -> Dict:
    """Median seconds of one ``kind`` (train/infer) step of ``config`` over ``iters``
    after one warm-up, peak memory in MiB, and the detections (infer).

    Args:
        threads: torch threads (0: torch's default).
        onnx: ``(onnx_file, graph_optimization)``: infer with ONNX Runtime on the CPU,
            ``threads`` intra-op threads (torch, for the data preprocessor, on one).
    """
    if threads or onnx:
        torch.set_num_threads(1 if onnx else threads)
    model, size = build(config, device, weights)
    if channels_last:
        from ssd_plugin.engine import to_channels_last

        to_channels_last(model)
    packed = packed_batch(batch, size, model.bbox_head.num_classes, device)
    if onnx:
        from ssd_plugin.apis.onnxruntime_detector import OnnxRuntimeDetector

        model = OnnxRuntimeDetector(
            onnx[0], model.data_preprocessor, num_threads=threads, graph_optimization=onnx[1]
        )
    cuda = device.startswith('cuda')
    dtype = torch.float16 if cuda else torch.bfloat16
    autocast = torch.autocast(device.split(':')[0], dtype=dtype, enabled=amp)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if kind == 'train':
        model.train()
        step = train_step(model, lambda: model.data_preprocessor(packed, True), autocast)
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                return model(**model.data_preprocessor(packed, False), mode='predict')

    (seconds,), (out,) = time_fns(step, warmup=1, repeat=iters, cuda=cuda)
    if cuda:
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    dets = None
    if kind == 'infer':
        dets = [(r.pred_instances.bboxes.float().cpu(), r.pred_instances.labels.cpu()) for r in out]
    return dict(seconds=seconds, peak_mb=peak_mb, dets=dets)


def measure_pair(
    kind: str, name: str, *args, run: Callable = in_fresh_process, mmdet_first: bool = False
) -> Tuple[Dict, Dict]:
    """:func:`measure` (``args``: from ``device`` on) of ours and of mmdet's model ``name``,
    each by ``run`` (default: in a fresh process), ours first unless ``mmdet_first``;
    the two results and the :func:`compare` figures."""
    sides = list(zip(('ours', 'mmdet'), PAIRS[name]))
    measured = {}
    for side, config in sides[::-1] if mmdet_first else sides:
        measured[side] = run(measure, kind, config, *args)
    return measured, compare(measured['ours'], measured['mmdet'], batch=args[1])


def agreement(ours, theirs) -> float:
    """Share of detections matched one-to-one (same label, IoU > 0.9)."""
    from mmdet.structures.bbox import bbox_overlaps

    matched = total = 0
    for (b1, l1), (b2, l2) in zip(ours, theirs):
        total += max(len(b1), len(b2))
        if len(b1) and len(b2):
            iou = bbox_overlaps(b1, b2) * (l1[:, None] == l2[None])
            matched += int((iou.max(dim=1).values > 0.9).sum())
    return matched / total if total else 1.0


def compare(ours: Dict, mmdet: Dict, batch: int, reference: Optional[Dict] = None) -> Dict:
    """The figures of one setting from two :func:`measure` results; the detections'
    agreement with ``reference`` (default: mmdet's) where there are detections."""
    row = dict(
        mmdet_ms=mmdet['seconds'] * 1e3,
        ours_ms=ours['seconds'] * 1e3,
        mmdet_img_s=batch / mmdet['seconds'],
        ours_img_s=batch / ours['seconds'],
        speedup=mmdet['seconds'] / ours['seconds'],
        mmdet_peak_mb=mmdet['peak_mb'],
        ours_peak_mb=ours['peak_mb'],
    )
    if ours['dets'] is not None:
        row['agreement'] = agreement(ours['dets'], (reference or mmdet)['dets'])
    return row


def main(args: argparse.Namespace) -> dict:
    if args.command == 'train' and args.model == 'ssdlite' and min(args.batches) < 2:
        # its BatchNorm, in training mode, needs 2+ values a channel: the 1x1 last level
        raise SystemExit(
            f'benchmark.py train: --batches {min(args.batches)} is too small for ssdlite: its '
            'BatchNorm layers need 2 or more images a step in training (its last level is 1x1)'
        )
    ours_cfg = PAIRS[args.model][0]
    weights = build(ours_cfg, 'cpu')[0].state_dict()
    columns = COLUMNS[args.command]
    onnx_file, rows = None, []

    def add(row: Dict) -> None:
        rows.append({c: row[c] for c in columns})
        print(markdown_table(rows[-1:], columns), flush=True)

    batches = args.batches if args.command == 'train' else [1, args.throughput_batch]
    for batch in batches:
        for amp in [False, True] if args.amp else [False]:
            setting = dict(
                model=args.model,
                batch=batch,
                amp=amp,
                channels_last=args.channels_last,
                device=args.device,
            )
            sides, figures = measure_pair(
                args.command, args.model, args.device, batch, amp, args.iters, weights,
                args.threads, args.channels_last,
            )  # fmt: skip
            add(dict(setting, **figures))
            if args.command == 'infer' and args.onnxruntime and not amp:
                if onnx_file is None:
                    onnx_file = osp.join(tempfile.mkdtemp(), 'model.onnx')
                    in_fresh_process(export_plugin_model, ours_cfg, weights, onnx_file)
                for graph_opt in (False, True):
                    for threads in (1, 2):
                        ort = in_fresh_process(
                            measure, 'infer', ours_cfg, 'cpu', batch, False, args.iters,
                            weights, threads, False, (onnx_file, graph_opt),
                        )  # fmt: skip
                        label = f'ort opt={"on" if graph_opt else "off"} threads={threads}'
                        figures = compare(ort, sides['mmdet'], batch, reference=sides['ours'])
                        add(dict(setting, channels_last=label, device='cpu', **figures))
    return report(
        args.command, f'{args.command} (median of {args.iters} iterations)', rows, columns
    )


def add_parser(subparsers) -> None:
    for name, help_text in (('train', 'full train step'), ('infer', 'inference with NMS')):
        parser = subparsers.add_parser(name, help=f'{help_text} vs the mmdet baseline config')
        parser.add_argument('--model', choices=list(PAIRS), default='ssd300')
        add_device_args(parser)
        parser.add_argument('--iters', type=int, default=5)
        parser.add_argument('--amp', action='store_true', help='also measure AMP')
        parser.add_argument(
            '--channels-last', action='store_true', help='both sides in channels_last (NHWC)'
        )
        if name == 'train':
            parser.add_argument('--batches', type=int, nargs='+', default=[8, 32])
        else:
            parser.add_argument('--throughput-batch', type=int, default=32)
            parser.add_argument(
                '--onnxruntime',
                action='store_true',
                help='also time the exported plugin model under ONNX Runtime (CPU), graph '
                'optimisations off/on, 1 and 2 threads; agreement is then vs ours in PyTorch',
            )
        parser.set_defaults(func=main)
