"""tools/infer.py: drawn images and a JSON of detections that match test.py's."""

import json
import os
import os.path as osp
import pickle

import pytest
import torch
from tools_test_utils import assert_ok, load_tool, run_tool

from ssd_plugin.apis.inference import detections, list_images


@pytest.mark.slow
def test_infer_folder_writes_images_and_json_consistent_with_test(
    tested, tiny_config, tiny_data, tmp_path
):
    out_dir, thr = str(tmp_path / 'infer'), 0.05
    proc = run_tool(
        [
            'infer.py',
            tiny_data + 'val',
            tiny_config,
            tested['checkpoint'],
            '--out-dir',
            out_dir,
            '--score-thr',
            str(thr),
            '--batch-size',
            '2',
        ]
    )
    assert_ok(proc)
    names = [f'{i:06d}.jpg' for i in range(8)]
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == names
    with open(osp.join(out_dir, 'detections.json')) as f:
        result = json.load(f)
    assert result['classes'] == ['ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring']
    assert [osp.basename(r['image']) for r in result['images']] == names

    # The same detections as the test loop's (same pipeline, original-image pixels).
    with open(tested['out'], 'rb') as f:
        reference = {osp.basename(p['img_path']): p['pred_instances'] for p in pickle.load(f)}
    total = 0
    for record in result['images']:
        ref = reference[osp.basename(record['image'])]
        keep = ref['scores'] >= thr
        order = ref['scores'][keep].argsort(descending=True)
        assert record['scores'] == pytest.approx(ref['scores'][keep][order].tolist(), abs=1e-4)
        assert torch.allclose(
            torch.tensor(record['bboxes']).view(-1, 4), ref['bboxes'][keep][order], atol=0.02
        )
        assert record['labels'] == ref['labels'][keep][order].tolist()
        assert record['class_names'] == [result['classes'][i] for i in record['labels']]
        total += len(record['scores'])
    assert total > 0


def test_list_images_and_detection_filtering(tiny_data):
    assert list_images(tiny_data + 'val/000003.jpg') == [tiny_data + 'val/000003.jpg']
    assert len(list_images(tiny_data + 'val')) == 8
    pred = dict(
        bboxes=[[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 9, 9]], scores=[0.4, 0.9, 0.1], labels=[5, 0, 2]
    )
    kept = detections(pred, ['a', 'b', 'c', 'd', 'e', 'f'], 0.3)
    assert kept == dict(
        bboxes=[[5, 6, 7, 8], [1, 2, 3, 4]],
        scores=[0.9, 0.4],
        labels=[0, 5],
        class_names=['a', 'f'],
    )


@pytest.mark.slow
def test_infer_with_mmdet_ssd_head_config(tested, tiny_config, tiny_data, tmp_path):
    """mmdet 3.3.0's SSDHead (a baseline config) predicts through infer.py: ``import
    ssd_plugin`` gives its class the ``loss_cls`` it lacks; without that, DetInferencer
    raises AttributeError. The plugin checkpoint loads unchanged."""
    config = tmp_path / 'mmdet_head.py'
    config.write_text(
        f'_base_ = {tiny_config!r}\n'
        "model = dict(train_cfg=None, bbox_head=dict(type='mmdet.SSDHead', "
        "anchor_generator=dict(type='mmdet.SSDAnchorGenerator')))\n"
    )
    out_dir = str(tmp_path / 'infer')
    image = tiny_data + 'val/000000.jpg'
    proc = run_tool(['infer.py', image, str(config), tested['checkpoint'], '--out-dir', out_dir])
    assert_ok(proc)
    with open(osp.join(out_dir, 'detections.json')) as f:
        assert [osp.basename(r['image']) for r in json.load(f)['images']] == ['000000.jpg']


def _truncated_copy(folder, tmp_path, name='half.jpg'):
    """A copy of a generated image cut to 1500 bytes, in ``folder``."""
    from synthetic_data import generate_synthetic_coco

    data = str(tmp_path / 'gen')
    generate_synthetic_coco(data, num_train=0, num_val=1, log=lambda _: None)
    with open(osp.join(data, 'val', '000000.jpg'), 'rb') as f:
        head = f.read()[:1500]
    image = folder / name
    image.write_bytes(head)
    return image


def test_infer_skips_and_names_a_bad_image_and_detects_the_others(
    tested, tiny_config, tiny_data, tmp_path, capsys
):
    """mmdet's InferencerLoader decodes a truncated JPEG with a grey half, and aborts the
    whole run on an undecodable file; infer.py reads each image first with the plugin's
    loader, names the bad ones, skips them and detects the rest."""
    folder = tmp_path / 'images'
    folder.mkdir()
    for name in ('000001.jpg', '000002.jpg'):
        (folder / name).write_bytes(open(tiny_data + 'val/' + name, 'rb').read())
    bad = _truncated_copy(folder, tmp_path)
    (folder / 'text.png').write_text('not an image')
    out_dir = tmp_path / 'out'
    infer = load_tool('infer')
    assert (
        infer.main([str(folder), tiny_config, tested['checkpoint'], '--out-dir', str(out_dir)]) == 0
    )
    out = capsys.readouterr().out
    assert f'Image file is truncated (1500 bytes, no end marker): {bad}' in out
    assert 'text.png' in out and '2 unreadable images skipped' in out
    with open(out_dir / 'detections.json') as f:
        result = json.load(f)
    assert [osp.basename(r['image']) for r in result['images']] == ['000001.jpg', '000002.jpg']
    assert sorted(osp.basename(r['image']) for r in result['skipped']) == ['half.jpg', 'text.png']


def test_truncated_image_error_names_the_file(tested, tiny_config, tmp_path, capsys):
    """A truncated image alone: nothing to detect, exit 2, the file named."""
    image = _truncated_copy(tmp_path, tmp_path)
    infer = load_tool('infer')
    status = infer.main([str(image), tiny_config, tested['checkpoint'], '--out-dir', str(tmp_path)])
    assert status == 2
    assert (
        f'Image file is truncated (1500 bytes, no end marker): {image}' in capsys.readouterr().err
    )


def test_a_huge_image_is_drawn_at_a_bounded_size(tested, tiny_config, tiny_data, tmp_path):
    """mmdet's DetInferencer draws at the full image size (a 10000 px image asked for
    ~5 GB); infer.py draws at most MAX_DRAW_SIDE px a side and keeps the detections in
    the original pixels."""
    import cv2

    from ssd_plugin.apis.inference import MAX_DRAW_SIDE

    small = cv2.imread(tiny_data + 'val/000002.jpg')
    image = tmp_path / 'huge.jpg'
    cv2.imwrite(str(image), cv2.resize(small, (MAX_DRAW_SIDE * 3, MAX_DRAW_SIDE * 2)))
    out_dir = tmp_path / 'out'
    infer = load_tool('infer')
    argv = [str(image), tiny_config, tested['checkpoint'], '--out-dir', str(out_dir)]
    assert infer.main(argv + ['--score-thr', '0.05']) == 0
    drawn = cv2.imread(str(out_dir / 'vis' / 'huge.jpg'))
    assert drawn.shape[:2] == (MAX_DRAW_SIDE * 2 // 3, MAX_DRAW_SIDE)
    with open(out_dir / 'detections.json') as f:
        boxes = json.load(f)['images'][0]['bboxes']
    assert boxes and max(b[2] for b in boxes) > MAX_DRAW_SIDE  # original pixels
