"""The shared pieces of ``tools/benchmark.py``'s harness (``tools/benchmarks/``): the
fresh process every whole-model row runs in, and a row measured under ONNX Runtime."""

import os
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import torch
from tools_test_utils import load_benchmark

ROOT = Path(__file__).resolve().parents[2]


def test_fresh_process_returns_raises_and_reports_a_crash():
    """Its result or its exception comes back; a crashed child raises instead of hanging."""
    in_fresh_process = load_benchmark('_common').in_fresh_process
    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match='invalid literal'):
        in_fresh_process(int, 'x')
    with pytest.raises(BrokenProcessPool):
        in_fresh_process(os._exit, 3)


@pytest.mark.slow
def test_onnxruntime_row_agrees_with_eager(tmp_path, monkeypatch):
    """``infer --onnxruntime``'s row: the exported SSDLite timed by ONNX Runtime, its
    detections compared with ours in PyTorch."""
    model = load_benchmark('model')
    monkeypatch.chdir(ROOT)  # the configs' paths
    threads = torch.get_num_threads()
    try:
        config = model.PAIRS['ssdlite'][0]
        weights = model.build(config, 'cpu')[0].state_dict()
        onnx_file = str(tmp_path / 'model.onnx')
        model.export_plugin_model(config, weights, onnx_file)
        args = ('infer', config, 'cpu', 1, False, 1, weights, 1)
        eager = model.measure(*args)
        ort = model.measure(*args, onnx=(onnx_file, True))
        with pytest.raises(Exception, match='missing.onnx'):  # the ONNX path is the one taken
            model.measure(*args, onnx=(str(tmp_path / 'missing.onnx'), True))
    finally:
        torch.set_num_threads(threads)
    row = model.compare(ort, eager, batch=1, reference=eager)
    figures = {'mmdet_ms', 'ours_ms', 'mmdet_img_s', 'ours_img_s', 'speedup', 'agreement'}
    assert set(row) == figures | {'mmdet_peak_mb', 'ours_peak_mb'}
    assert row['ours_ms'] > 0 and row['agreement'] > 0.9
