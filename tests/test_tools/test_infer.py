"""tools/infer.py: drawn images and a JSON of detections that match test.py's."""

import json
import os
import os.path as osp
import pickle

import pytest
import torch
from tools_test_utils import assert_ok, load_tool, run_tool

from ssd_plugin.apis.inference import detections, list_images, load_inference_config
from ssd_plugin.apis.safe_det_inferencer import SafeDetInferencer


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
    """mmdet 3.3.0's SSDHead (a baseline config) predicts through infer.py: the tool gives
    it the ``loss_cls`` it lacks, as MMDetSSDHeadCompatHook does in a Runner; without that,
    DetInferencer raises AttributeError. The plugin checkpoint loads unchanged."""
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
    assert 'SSDHead.loss_cls = None' in proc.stdout
    assert 'mmdet.models.dense_heads.ssd_head' in proc.stdout
    with open(osp.join(out_dir, 'detections.json')) as f:
        assert [osp.basename(r['image']) for r in json.load(f)['images']] == ['000000.jpg']


def test_infer_reads_images_with_the_configs_safe_loader(tested, tiny_config, tiny_data, tmp_path):
    """The plugin's configs load images with SafeLoadImageFromFile; mmdet's DetInferencer
    only knows LoadImageFromFile and refused them (``ValueError: LoadImageFromFile is not
    found in the test pipeline``). Paths go through the config's loader, arrays through
    LoadImageFromNDArray."""
    config = tmp_path / 'safe_loader.py'
    config.write_text(
        f'_base_ = {tiny_config!r}\n'
        'test_pipeline = [\n'
        "    dict(step, type='SafeLoadImageFromFile') if step.type == 'LoadImageFromFile' "
        'else step\n'
        '    for step in _base_.test_pipeline\n'
        ']\n'
        'test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n'
    )
    infer = load_tool('infer')
    image = tiny_data + 'val/000001.jpg'
    args = [str(config), tested['checkpoint'], '--out-dir', str(tmp_path / 'out')]
    assert infer.main([image] + args) == 0
    with open(tmp_path / 'out' / 'detections.json') as f:
        assert [r['image'] for r in json.load(f)['images']] == [image]

    cfg = load_inference_config(str(config), tested['checkpoint'])
    inferencer = SafeDetInferencer(
        model=cfg, weights=tested['checkpoint'], device='cpu', scope='ssd_plugin'
    )
    loader = inferencer.pipeline.transforms[0]
    assert type(loader.file_loader).__name__ == 'SafeLoadImageFromFile'
    import cv2

    array = cv2.imread(image)  # arrays (e.g. a camera frame) go through LoadImageFromNDArray
    from_array = inferencer(array, return_datasamples=True)['predictions'][0]
    from_file = inferencer(image, return_datasamples=True)['predictions'][0]
    assert torch.equal(from_array.pred_instances.scores, from_file.pred_instances.scores)


def test_truncated_image_error_names_the_file(tested, tiny_config, tmp_path, capsys):
    """The safe loader stays in charge at inference: a truncated image is named (exit 2),
    not drawn with a grey half."""
    image = tmp_path / 'half.jpg'
    from ssd_plugin.testing.synthetic_coco import generate_synthetic_coco

    data = str(tmp_path / 'data')
    generate_synthetic_coco(data, num_train=0, num_val=1, log=lambda _: None)
    with open(osp.join(data, 'val', '000000.jpg'), 'rb') as f:
        image.write_bytes(f.read()[:1500])
    config = tmp_path / 'safe_loader.py'
    config.write_text(
        f'_base_ = {tiny_config!r}\n'
        "test_dataloader = dict(dataset=dict(pipeline=[dict(type='SafeLoadImageFromFile')] "
        '+ _base_.test_pipeline[1:]))\n'
    )
    infer = load_tool('infer')
    status = infer.main([str(image), str(config), tested['checkpoint'], '--out-dir', str(tmp_path)])
    assert status == 2
    assert (
        f'Image file is truncated (1500 bytes, no end marker): {image}' in capsys.readouterr().err
    )


@pytest.mark.slow
def test_a_bad_image_in_a_folder_is_skipped_and_the_rest_written(
    tested, tiny_config, tiny_data, tmp_path, capsys
):
    """One bad image used to abort the run with no detections.json at all."""
    import shutil

    folder = tmp_path / 'imgs'
    folder.mkdir()
    for name in ('000000.jpg', '000001.jpg', '000002.jpg'):
        shutil.copy(tiny_data + 'val/' + name, folder / name)
    (folder / '000001.jpg').write_bytes((folder / '000001.jpg').read_bytes()[:1500])
    config = tmp_path / 'safe_loader.py'
    config.write_text(
        f'_base_ = {tiny_config!r}\n'
        "test_dataloader = dict(dataset=dict(pipeline=[dict(type='SafeLoadImageFromFile')] "
        '+ _base_.test_pipeline[1:]))\n'
    )
    out = tmp_path / 'out'
    argv = [str(folder), str(config), tested['checkpoint'], '--out-dir', str(out)]
    assert load_tool('infer').main(argv + ['--batch-size', '2']) == 0
    bad = folder / '000001.jpg'
    err = capsys.readouterr().err
    assert f'warning: skipped: Image file is truncated (1500 bytes, no end marker): {bad}' in err
    with open(out / 'detections.json') as f:
        result = json.load(f)
    assert [osp.basename(r['image']) for r in result['images']] == ['000000.jpg', '000002.jpg']
    assert [s['image'] for s in result['skipped']] == [str(folder / '000001.jpg')]
