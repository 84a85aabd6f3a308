"""Interleaved CPU inference timing (one process, round-robin), for a shared machine:
PyTorch eager ours and mmdet, ours in channels_last (``--channels-last`` of
``tools/test.py``), ONNX Runtime (graph optimisations on, 1 and 2
threads), and where our eager time goes (backbone+neck, head, post-processing).

    python -m tools.benchmarks._infer_interleaved BATCH ROUNDS   (from the repository root)
"""

import copy
import sys
import tempfile
import time
from functools import partial

import torch

from ._common import median, time_fns
from .model import PAIRS, build, export_plugin_model, packed_batch


def main(batch: int, rounds: int) -> None:
    from ssd_plugin.apis.onnxruntime_detector import OnnxRuntimeDetector
    from ssd_plugin.engine.hooks import to_channels_last

    torch.set_num_threads(2)
    ours_cfg, base_cfg = PAIRS['ssd300']
    ours, size = build(ours_cfg, 'cpu')
    theirs, _ = build(base_cfg, 'cpu', ours.state_dict())
    ours.eval(), theirs.eval()
    ours_cl = to_channels_last(copy.deepcopy(ours))
    onnx_file = tempfile.mkdtemp() + '/m.onnx'
    export_plugin_model(ours_cfg, ours.state_dict(), onnx_file)
    ort = {t: OnnxRuntimeDetector(onnx_file, ours.data_preprocessor, t) for t in (1, 2)}
    packed = packed_batch(batch, size, ours.bbox_head.num_classes, 'cpu')

    def eager(model):
        with torch.no_grad():
            return model(**model.data_preprocessor(packed, False), mode='predict')

    data = ours.data_preprocessor(packed, False)
    head = ours.bbox_head

    def parts():
        with torch.no_grad():
            t0 = time.perf_counter()
            feats = ours.extract_feat(data['inputs'])
            t1 = time.perf_counter()
            outs = head(feats)
            t2 = time.perf_counter()
            metas = [s.metainfo for s in data['data_samples']]
            head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)
            t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    models = dict(mmdet=theirs, ours=ours, ours_cl=ours_cl, ort1=ort[1], ort2=ort[2])
    runs = [partial(eager, m) for m in models.values()]
    for fn in runs:
        fn()  # warm-up
    times, split = [], []
    for _ in range(rounds):
        times.append(dict(zip(models, time_fns(*runs, warmup=0, repeat=1)[0])))
        split.append(parts())
        print({k: round(v, 3) for k, v in times[-1].items()}, flush=True)
    print(f'batch {batch}, {rounds} rounds, median speedup vs mmdet eager (2 torch threads):')
    for k in list(models)[1:]:
        v = [t['mmdet'] / t[k] for t in times]
        print(f'  {k}: {median(v):.2f}x  (all: {", ".join(f"{x:.2f}" for x in v)})')
    names = ('backbone+neck', 'head convs', 'predict_by_feat (decode+NMS)')
    medians = [median([s[i] for s in split]) for i in range(3)]
    for name, m in zip(names, medians):
        print(f'  ours eager {name}: {m * 1e3:.0f} ms ({100 * m / sum(medians):.1f}%)')


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]))
