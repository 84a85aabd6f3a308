"""``train`` and ``infer``: whole-model speed of a plugin config against its
mmdet baseline config, on the same weights and the same inputs.

* ``train``: images/s and peak memory of a full train step (data
  preprocessor, forward, targets and loss, backward, SGD step), fp32 or AMP
  (``--amp``: bf16 autocast on CPU, fp16 on GPU), per batch size;
  ``--channels-last`` runs both sides in NHWC.
* ``infer``: latency at batch 1 and throughput at a larger batch, including
  post-processing and NMS, plus the share of detections both sides agree on
  (same label, IoU > 0.9), so that speed is not bought with wrong output.

Each (side, setting) runs in a fresh process, so peak memory is that run's
alone (CUDA: ``max_memory_allocated``; CPU: growth of the process's max RSS).
Weights are random but identical: the plugin model's state dict is loaded into
the baseline (same parameter names). mmdet's SSDHead gets ``loss_cls = None``
(mmdet 3.3.0 bug, it cannot predict otherwise); nothing else is changed.
"""

import argparse
import multiprocessing as mp
import resource
import time
from typing import Dict, List

import torch

from ._build import PAIRS, build, packed_batch
from ._common import machine_info, markdown_table


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _worker(kind, config, device, batch, amp, iters, weights, threads, channels_last=False):
    if threads:
        torch.set_num_threads(threads)
    model, size = build(config, device, weights)
    if channels_last:
        from ssd_plugin.engine import to_channels_last

        to_channels_last(model)
    packed = packed_batch(batch, size, model.bbox_head.num_classes, device)
    dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16
    autocast = torch.autocast(device.split(':')[0], dtype=dtype, enabled=amp)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    if kind == 'train':
        model.train()
        optim = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def step():
            data = model.data_preprocessor(packed, True)
            with autocast:
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()

    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                return model(**model.data_preprocessor(packed, False), mode='predict')

    step()  # warm-up
    times = []
    for _ in range(iters):
        _sync(device)
        start = time.perf_counter()
        out = step()
        _sync(device)
        times.append(time.perf_counter() - start)
    times.sort()
    if device.startswith('cuda'):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    dets = None
    if kind == 'infer':
        dets = [(r.pred_instances.bboxes.float().cpu(), r.pred_instances.labels.cpu()) for r in out]
    return dict(seconds=times[len(times) // 2], peak_mb=peak_mb, dets=dets)


def _run(*args, worker=_worker):
    with mp.get_context('spawn').Pool(1) as pool:
        return pool.apply(worker, args)


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


def _ort_rows(args, config, batch, weights, ours, mmdet) -> List[Dict]:
    """ONNX Runtime (graph optimisations on/off, 1 and 2 threads) vs mmdet eager."""
    import os
    import tempfile

    from ._ort import export_plugin_model, ort_worker

    if not getattr(args, '_onnx_file', None):
        args._onnx_file = os.path.join(tempfile.mkdtemp(), 'model.onnx')
        _run(config, weights, args._onnx_file, worker=export_plugin_model)
    rows = []
    for graph_opt in (False, True):
        for threads in (1, 2):
            r = _run(
                config, args._onnx_file, batch, args.iters, weights, threads, graph_opt,
                worker=ort_worker,
            )  # fmt: skip
            row = dict(
                model=args.model,
                batch=batch,
                amp=False,
                channels_last=f'ort opt={"on" if graph_opt else "off"} threads={threads}',
                device='cpu',
                mmdet_ms=mmdet['seconds'] * 1e3,
                ours_ms=r['seconds'] * 1e3,
                mmdet_img_s=batch / mmdet['seconds'],
                ours_img_s=batch / r['seconds'],
                speedup=mmdet['seconds'] / r['seconds'],
                mmdet_peak_mb=mmdet['peak_mb'],
                ours_peak_mb=0.0,
                agreement=agreement(r['dets'], ours['dets']),
            )
            rows.append(row)
            print(markdown_table([row], list(row)), flush=True)
    return rows


def main(args: argparse.Namespace) -> dict:
    ours_cfg, base_cfg = PAIRS[args.model]
    weights = build(ours_cfg, 'cpu')[0].state_dict()
    rows: List[Dict] = []
    batches = args.batches if args.command == 'train' else [1, args.throughput_batch]
    for batch in batches:
        for amp in [False, True] if args.amp else [False]:
            common = (batch, amp, args.iters, weights, args.threads, args.channels_last)
            a = _run(args.command, ours_cfg, args.device, *common)
            b = _run(args.command, base_cfg, args.device, *common)
            row = dict(
                model=args.model,
                batch=batch,
                amp=amp,
                channels_last=args.channels_last,
                device=args.device,
                mmdet_img_s=batch / b['seconds'],
                ours_img_s=batch / a['seconds'],
                speedup=b['seconds'] / a['seconds'],
                mmdet_peak_mb=b['peak_mb'],
                ours_peak_mb=a['peak_mb'],
            )
            if args.command == 'infer':
                row.update(
                    mmdet_ms=b['seconds'] * 1e3,
                    ours_ms=a['seconds'] * 1e3,
                    agreement=agreement(a['dets'], b['dets']),
                )
            rows.append(row)
            print(markdown_table([row], list(row)), flush=True)
            if args.command == 'infer' and args.onnxruntime:
                rows += _ort_rows(args, ours_cfg, batch, weights, a, b)
    columns = [
        'model',
        'batch',
        'amp',
        'channels_last',
        'device',
        'mmdet_img_s',
        'ours_img_s',
        'speedup',
        'mmdet_peak_mb',
        'ours_peak_mb',
    ]
    if args.command == 'infer':
        columns[5:5] = ['mmdet_ms', 'ours_ms']
        columns.append('agreement')
    print(f'\n{args.command} (median of {args.iters} iterations)\n')
    print(markdown_table(rows, columns))
    return dict(benchmark=args.command, machine=machine_info(), rows=rows)


def add_parser(subparsers) -> None:
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    for name, help_text in (('train', 'full train step'), ('infer', 'inference with NMS')):
        parser = subparsers.add_parser(name, help=f'{help_text} vs the mmdet baseline config')
        parser.add_argument('--model', choices=list(PAIRS), default='ssd300')
        parser.add_argument('--device', default=device)
        parser.add_argument('--iters', type=int, default=5)
        parser.add_argument('--amp', action='store_true', help='also measure AMP')
        parser.add_argument(
            '--channels-last', action='store_true', help='both sides in channels_last (NHWC)'
        )
        parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
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
