"""Smoke test of ``tools/benchmark.py pipeline`` (tools/benchmarks/pipeline.py)."""

import argparse
import importlib
from pathlib import Path

import numpy as np


def load():
    return importlib.import_module('benchmarks.pipeline')  # tools/ is on pytest's pythonpath


def test_subcommand_runs_and_reports_every_pipeline(tmp_path, capsys):
    pipeline = load()
    parser = argparse.ArgumentParser()
    pipeline.add_parser(parser.add_subparsers(dest='command'))
    args = parser.parse_args(
        [
            'pipeline',
            '--num-images',
            '3',
            '--rounds',
            '1',
            '--width',
            '96',
            '--height',
            '64',
            '--no-pin',
        ]
    )
    assert args.func is pipeline.main
    results = args.func(args)
    names = [row['pipeline'] for row in results['pipelines']]
    assert names == ['mmdet', 'ssd_plugin', 'ssd_plugin (lazy Expand)']
    assert all(row['img/s'] > 0 for row in results['pipelines'])
    assert results['pipelines'][0]['vs mmdet'] == '1.00x'
    assert [row['step'] for row in results['steps']][2:4] == ['Expand', 'MinIoURandomCrop']
    assert '| pipeline | img/s | ms/img | vs mmdet |' in capsys.readouterr().out


def test_synthetic_images_have_boxes_inside_the_image(tmp_path):
    data = load().make_images(str(tmp_path), 4, 96, 64, seed=0)
    assert len(data) == 4 and all(Path(d['img_path']).exists() for d in data)
    boxes = np.array([ins['bbox'] for d in data for ins in d['instances']])
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 96).all() and (boxes[:, 3] <= 64).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
