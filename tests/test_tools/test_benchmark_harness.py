"""The shared pieces of ``tools/benchmark.py``'s harness (``tools/benchmarks/``): the
fresh process every whole-model row runs in, a row measured under ONNX Runtime, and a
setting it refuses."""

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


def test_ssdlite_train_step_of_one_image_is_refused_with_the_reason():
    """SSDLite's BatchNorm cannot train on one image (its last level is 1x1): the benchmark
    says so instead of failing inside a worker process."""
    import argparse

    model = load_benchmark('model')
    args = argparse.Namespace(command='train', model='ssdlite', batches=[8, 1])
    with pytest.raises(SystemExit, match='--batches 1 is too small for ssdlite'):
        model.main(args)


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
