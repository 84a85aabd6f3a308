"""ONNX Runtime rows of ``tools/benchmark.py infer --onnxruntime``: the plugin
model exported once (``ssd_plugin.apis.onnx_export``, dynamic batch), then timed
through :class:`ssd_plugin.apis.onnxruntime_detector.OnnxRuntimeDetector` on the
same packed batch as PyTorch (data preprocessor included), with ONNX Runtime's
graph optimisations on or off and 1 or 2 intra-op threads."""

import time


def export_plugin_model(config: str, weights, out: str) -> None:
    """Export the plugin model of ``config`` with ``weights`` to ``out``."""
    from ssd_plugin.apis.onnx_export import export_onnx
    from ssd_plugin.deploy import SSDOnnxWrapper

    from ._build import build

    model, size = build(config, 'cpu', weights)
    export_onnx(SSDOnnxWrapper(model.eval(), (size, size)), out)


def ort_worker(config, onnx_file, batch, iters, weights, threads, graph_optimization):
    """Median seconds of one batch, and the detections, as ``model._worker``."""
    import torch

    torch.set_num_threads(1)  # the data preprocessor; ONNX Runtime has its own pool
    from ssd_plugin.apis.onnxruntime_detector import OnnxRuntimeDetector

    from ._build import build, packed_batch

    model, size = build(config, 'cpu', weights)
    detector = OnnxRuntimeDetector(
        onnx_file,
        data_preprocessor=model.data_preprocessor,
        num_threads=threads,
        graph_optimization=graph_optimization,
    )
    packed = packed_batch(batch, size, model.bbox_head.num_classes, 'cpu')

    def step():
        return detector(**detector.data_preprocessor(packed, False), mode='predict')

    step()  # warm-up
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - start)
    times.sort()
    dets = [(r.pred_instances.bboxes.float(), r.pred_instances.labels) for r in out]
    return dict(seconds=times[len(times) // 2], peak_mb=0.0, dets=dets)
