"""tools/demo.py end to end on a tiny scale: generate, time, train, evaluate, draw, rerun.

The epoch choice itself is tested on given timings in
tests/test_tools/test_ssd_demo/test_time_budget_plan.py.
"""

import json
import os
import os.path as osp
import re

import pytest
from tools_test_utils import assert_ok, run_tool


@pytest.mark.slow
def test_demo_fits_its_epochs_to_the_budget_and_a_rerun_skips_training(tmp_path):
    work_dir, data_root = str(tmp_path / 'work'), str(tmp_path / 'data')
    args = [
        'demo.py',
        '--work-dir',
        work_dir,
        '--data-root',
        data_root,
        '--num-train',
        '16',
        '--num-val',
        '4',
        '--num-draw',
        '2',
        '--cfg-options',
        'train_cfg.max_epochs=2',  # the recipe's epochs here: the most the budget trains
        'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
    ]
    first = run_tool(args, timeout=300)
    assert_ok(first)
    out = first.stdout + first.stderr
    for step in range(1, 5):
        assert f'[demo {step}/4]' in out
    # The first step (an epoch here) timed the training; 2 epochs of 1 step fit 600 s.
    assert (
        'training up to 2 epochs: the first 25 steps (at a smaller first input, the first '
        'epoch) are timed' in out
    )
    assert re.search(
        r'time budget 600 s: measured \d+ ms/step -> 2 epochs, expected finish at '
        r'\d\d:\d\d:\d\d \(\d+ s of 600; \d+ s spent, 1 steps an epoch',
        out,
    ), out
    assert 'Epoch(train) [2][1/1]' in out and 'Epoch(train) [3]' not in out
    assert re.search(r'\d+ s of the 600 s budget \(expected \d+ s; 2 of 2 epochs at \d+ ms', out)
    assert re.search(r'eta: \d', out), 'the training log shows an ETA'
    # The results block: this run's metrics next to the paper's, the pictures.
    assert re.search(r'this run \(val\) +\d\.\d{3} +\d\.\d{3} +\d\.\d{3} ', out), out
    assert re.search(r'SSD300\* +0\.251 +0\.431 +0\.066 ', out)
    curve = osp.join(work_dir, 'loss_curve.png')
    assert f'loss curve:       {curve}' in out and os.path.getsize(curve) > 1000
    assert f'drawn detections: {osp.join(work_dir, "infer", "vis")}' in out
    # Step 3 reuses the validation that training ran on the final weights.
    assert 'evaluated on the val split (pycocotools) at the end of training' in out

    with open(osp.join(work_dir, 'demo_metrics.json')) as f:
        metrics = json.load(f)['metrics']
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    with open(osp.join(work_dir, 'infer', 'detections.json')) as f:
        detections = json.load(f)
    assert len(detections['images']) == 2
    assert sorted(os.listdir(osp.join(work_dir, 'infer', 'vis'))) == ['000000.jpg', '000001.jpg']
    with open(osp.join(data_root, 'annotations', 'instances_train.json')) as f:
        assert len(json.load(f)['images']) == 16

    second = run_tool(args, timeout=300)
    assert_ok(second)
    out = second.stdout + second.stderr
    assert 'training: already done (2 epochs)' in out
    assert 'Epoch(train)' not in out and 'time budget' not in out
    # The rerun evaluates the checkpoint itself and gets what training's validation got.
    assert 'evaluating ' in out
    with open(osp.join(work_dir, 'demo_metrics.json')) as f:
        again = json.load(f)['metrics']
    assert again == pytest.approx(metrics)
