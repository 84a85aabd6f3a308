"""mmdet's analysis tools on the plugin's tiny config, work dir and predictions,
each run once as a user runs it: ``python tools/analysis_tools/<name>.py ...``."""

import os
import os.path as osp

import pytest
import torch
from tools_test_utils import assert_ok, run_tool

PNG = b'\x89PNG\r\n\x1a\n'


def _is_png(path: str) -> bool:
    with open(path, 'rb') as f:
        return f.read(8) == PNG and os.path.getsize(path) > 1000


@pytest.mark.slow
def test_analyze_logs_plots_loss_and_map_from_a_work_dir(trained, tmp_path):
    out = str(tmp_path / 'curves.png')
    proc = run_tool(['analysis_tools/analyze_logs.py', 'plot_curve', trained,
                     '--keys', 'loss', 'loss_cls', 'bbox_mAP', '--out', out])  # fmt: skip
    assert_ok(proc)
    assert _is_png(out)
    assert 'metric is bbox_mAP' in proc.stdout
    proc = run_tool(['analysis_tools/analyze_logs.py', 'cal_train_time', trained])
    assert_ok(proc)
    assert 'average iter time' in proc.stdout


def test_analyze_logs_names_a_work_dir_without_log(tmp_path):
    proc = run_tool(['analysis_tools/analyze_logs.py', 'plot_curve', str(tmp_path)])
    assert proc.returncode != 0
    assert 'no training log' in proc.stderr and str(tmp_path) in proc.stderr


@pytest.mark.slow
def test_get_flops(tiny_config):
    proc = run_tool(['analysis_tools/get_flops.py', tiny_config, '--num-images', '1'])
    assert_ok(proc)
    assert 'Flops:' in proc.stdout and 'Params:' in proc.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mmdet's inference benchmark is GPU-only")
def test_benchmark_inference_fps(tiny_config, trained):
    ckpt = osp.join(trained, 'iter_6.pth')
    proc = run_tool(['analysis_tools/benchmark.py', tiny_config, '--checkpoint', ckpt,
                     '--task', 'inference', '--max-iter', '4', '--num-warmup', '1',
                     '--log-interval', '1'])  # fmt: skip
    assert_ok(proc)
    assert 'Overall fps' in proc.stdout + proc.stderr


@pytest.mark.slow
def test_benchmark_dataloader_fps_and_cpu_inference_refused(tiny_config, trained):
    proc = run_tool(['analysis_tools/benchmark.py', tiny_config, '--task', 'dataloader',
                     '--max-iter', '4', '--num-warmup', '1', '--log-interval', '1'])  # fmt: skip
    assert_ok(proc)
    assert 'Overall fps' in proc.stdout + proc.stderr
    if not torch.cuda.is_available():
        proc = run_tool(['analysis_tools/benchmark.py', tiny_config, '--task', 'inference',
                         '--checkpoint', osp.join(trained, 'iter_6.pth')])  # fmt: skip
        assert proc.returncode != 0 and 'CUDA GPU only' in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_confusion_matrix(tiny_config, tested, tmp_path):
    proc = run_tool(['analysis_tools/confusion_matrix.py', tiny_config, tested['out'],
                     str(tmp_path), '--score-thr', '0.05'])  # fmt: skip
    assert_ok(proc)
    assert _is_png(str(tmp_path / 'confusion_matrix.png'))


@pytest.mark.slow
def test_analyze_results(tiny_config, tested, tmp_path):
    proc = run_tool(['analysis_tools/analyze_results.py', tiny_config, tested['out'],
                     str(tmp_path), '--topk', '2'])  # fmt: skip
    assert_ok(proc)
    for kind in ('good', 'bad'):
        drawn = os.listdir(tmp_path / kind)
        assert len(drawn) == 2 and all(name.endswith('.jpg') for name in drawn), drawn
