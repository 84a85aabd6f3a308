"""The synthetic COCO generator (its CLI: tests/test_tools/test_generate_dataset.py)."""

import contextlib
import filecmp
import hashlib
import io
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tools_test_utils import ROOT, assert_ok, run_command

from synthetic_data import SYNTHETIC_CLASSES, generate_synthetic_coco
from synthetic_data.shapes import draw_image, visible_boxes

PARAMS = dict(num_train=40, num_val=12, img_size=160, seed=3)


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic') / 'data')
    manifest = generate_synthetic_coco(out, log=_quiet, **PARAMS)
    return out, manifest


def _load_coco(path: str) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


def test_layout_and_manifest(dataset):
    out, manifest = dataset
    assert manifest['skipped'] is False
    assert manifest['params']['num_train'] == 40 and manifest['params']['img_size'] == 160
    assert manifest['classes'] == list(SYNTHETIC_CLASSES) and len(SYNTHETIC_CLASSES) == 6
    with open(osp.join(out, 'manifest.json')) as f:
        assert json.load(f)['params'] == manifest['params']
    for split, count in (('train', 40), ('val', 12)):
        names = sorted(os.listdir(osp.join(out, split)))
        assert names == [f'{i:06d}.jpg' for i in range(count)]
        img = cv2.imread(osp.join(out, split, names[0]))
        assert img.shape == (160, 160, 3)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_valid_and_gt_scores_map_one(dataset, split):
    out, _ = dataset
    gt = _load_coco(osp.join(out, f'annotations/instances_{split}.json'))
    assert [c['name'] for c in gt.loadCats(gt.getCatIds())] == list(SYNTHETIC_CLASSES)
    anns = gt.loadAnns(gt.getAnnIds())
    assert len(anns) >= len(gt.getImgIds())  # at least one object per image
    for ann in anns:
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= 160 and y + h <= 160 and w > 1 and h > 1
        assert ann['area'] == pytest.approx(w * h, abs=0.05)
    dets = [
        dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'], score=1.0)
        for a in anns
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(dets), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # AP, AP50, AP75, AP_small, AP_medium, AP_large: all 1.0 (-1 would mean "no such objects").
    assert evaluator.stats[:6] == pytest.approx([1.0] * 6)


def test_all_area_ranges_classes_and_aspect_ratios(dataset):
    out, manifest = dataset
    gt = _load_coco(osp.join(out, 'annotations/instances_train.json'))
    anns = gt.loadAnns(gt.getAnnIds())
    areas = np.array([a['area'] for a in anns])
    assert (areas < 32**2).sum() >= 0.2 * len(anns)  # small objects are really there
    assert (areas < 16**2).sum() > 0
    assert ((areas >= 32**2) & (areas < 96**2)).any() and (areas >= 96**2).any()
    counts = manifest['splits']['train']['area_counts']
    assert counts['small'] == int((areas < 32**2).sum()) and min(counts.values()) > 0
    assert {a['category_id'] for a in anns} == set(range(1, 7))
    ratios = np.array([a['bbox'][2] / a['bbox'][3] for a in anns])
    assert ratios.min() < 0.6 and ratios.max() > 1.7
    per_image = np.bincount([a['image_id'] for a in anns])[1:]
    assert per_image.max() >= 4


def test_occlusion_happens_but_leaves_objects_visible(dataset):
    out, _ = dataset
    gt = _load_coco(osp.join(out, 'annotations/instances_train.json'))
    overlapping = 0
    for img_id in gt.getImgIds():
        boxes = [a['bbox'] for a in gt.loadAnns(gt.getAnnIds(imgIds=img_id))]
        for i, (x1, y1, w1, h1) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[i + 1 :]:
                iw = min(x1 + w1, x2 + w2) - max(x1, x2)
                ih = min(y1 + h1, y2 + h2) - max(y1, y2)
                overlapping += iw > 0 and ih > 0
    assert overlapping >= 5


def test_visible_boxes_hand_computed():
    owner = np.full((6, 8), -1, np.int16)
    owner[1:4, 2:7] = 0  # object 0: rows 1-3, cols 2-6
    owner[2:6, 5:8] = 1  # object 1 covers object 0's right part: rows 2-5, cols 5-7
    owner[0, 0] = 2  # a single pixel
    boxes = visible_boxes(owner, 3)
    # Pixel (row i, col j) spans [j, j + 1) x [i, i + 1): x2 = last col + 1.
    # Object 0 keeps cols 2-6 on row 1 (the cover starts at row 2), so its width stays 5.
    np.testing.assert_array_equal(boxes, [[2, 1, 7, 4], [5, 2, 8, 6], [0, 0, 1, 1]])
    owner[1, 5:7] = 1  # now object 1 hides cols 5-6 of object 0 on every row
    assert visible_boxes(owner, 2)[0].tolist() == [2, 1, 5, 4]
    with pytest.raises(ValueError, match='object 1 has no visible pixel'):
        visible_boxes(np.zeros((3, 3), np.int16), 2)


def test_rotation_is_a_parameter_and_boxes_are_pixel_edges():
    straight = draw_image(np.random.default_rng(5), 128, (4, 4), 0.6, (0.35, 0.45, 0.2), False)
    turned = draw_image(np.random.default_rng(5), 128, (4, 4), 0.6, (0.35, 0.45, 0.2), True)
    assert not np.array_equal(straight[0], turned[0])
    for _, objects in (straight, turned):
        assert 1 <= len(objects) <= 4
        for label, box in objects:
            assert 0 <= label < len(SYNTHETIC_CLASSES)
            x1, y1, x2, y2 = box
            assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 128
            np.testing.assert_array_equal(box, np.round(box))  # visible pixels' edges


def test_same_seed_gives_identical_bytes_other_seed_differs(dataset, tmp_path):
    out, _ = dataset
    again = str(tmp_path / 'again')
    # Drawn by two worker processes this time: the files do not depend on the split of work.
    again_manifest = generate_synthetic_coco(again, log=_quiet, workers=2, **PARAMS)
    assert again_manifest['params'] == dataset[1]['params']
    for sub in ('annotations', 'train', 'val'):
        names = sorted(os.listdir(osp.join(out, sub)))
        match, mismatch, errors = filecmp.cmpfiles(
            osp.join(out, sub), osp.join(again, sub), names, shallow=False
        )
        assert (mismatch, errors) == ([], []) and len(match) == len(names)
    other = str(tmp_path / 'other')
    generate_synthetic_coco(other, log=_quiet, **dict(PARAMS, seed=4, num_train=2, num_val=0))
    assert not filecmp.cmp(
        osp.join(out, 'train/000000.jpg'), osp.join(other, 'train/000000.jpg'), shallow=False
    )


def test_idempotent_and_regenerates_on_new_params(tmp_path):
    out = str(tmp_path / 'data')
    lines = []
    first = generate_synthetic_coco(out, num_train=3, num_val=2, img_size=128, log=lines.append)
    assert first['skipped'] is False and len(lines) == 2
    stamp = os.stat(osp.join(out, 'train/000000.jpg')).st_mtime_ns
    second = generate_synthetic_coco(out, num_train=3, num_val=2, img_size=128, log=lines.append)
    assert second['skipped'] is True and 'not regenerating' in lines[-1]
    assert os.stat(osp.join(out, 'train/000000.jpg')).st_mtime_ns == stamp
    # An incomplete dataset (an image lost) is written again.
    os.remove(osp.join(out, 'val/000001.jpg'))
    assert (
        generate_synthetic_coco(out, num_train=3, num_val=2, img_size=128, log=_quiet)['skipped']
        is False
    )
    # New parameters regenerate and remove images the new dataset does not have.
    generate_synthetic_coco(out, num_train=2, num_val=2, img_size=128, log=_quiet)
    assert sorted(os.listdir(osp.join(out, 'train'))) == ['000000.jpg', '000001.jpg']


def test_train_objects_change_the_training_images_only(tmp_path):
    plain = str(tmp_path / 'plain')
    busy = str(tmp_path / 'busy')
    small = dict(num_train=6, num_val=3, min_objects=1, max_objects=1, log=_quiet)
    assert 'train_objects' not in generate_synthetic_coco(plain, **small)['params']
    manifest = generate_synthetic_coco(busy, train_objects=(7, 8), **small)
    assert manifest['params']['train_objects'] == [7, 8]

    def objects_per_image(root, split):
        with open(osp.join(root, f'annotations/instances_{split}.json')) as f:
            anns = json.load(f)['annotations']
        return [
            sum(a['image_id'] == i for a in anns) for i in sorted({a['image_id'] for a in anns})
        ]

    # Placements that would hide an earlier object are dropped, so "up to" 8.
    assert min(objects_per_image(busy, 'train')) >= 4
    assert max(objects_per_image(plain, 'train')) == 1
    # The validation images do not change: the same files as without train_objects.
    names = sorted(os.listdir(osp.join(plain, 'val')))
    match, mismatch, errors = filecmp.cmpfiles(
        osp.join(plain, 'val'), osp.join(busy, 'val'), names, shallow=False
    )
    assert (mismatch, errors) == ([], []) and len(match) == 3
    with pytest.raises(ValueError, match=r'train_objects must be \(fewest, most\).*got \(3, 2\)'):
        generate_synthetic_coco(str(tmp_path / 'bad'), train_objects=(3, 2), **small)


def test_refuses_foreign_dir_and_bad_sizes(tmp_path):
    (tmp_path / 'notes.txt').write_text('not a dataset')
    with pytest.raises(ValueError, match='no manifest.json'):
        generate_synthetic_coco(str(tmp_path), num_train=1, num_val=1, log=_quiet)
    with pytest.raises(ValueError, match='at least 128'):
        generate_synthetic_coco(str(tmp_path / 'x'), img_size=96, log=_quiet)
    with pytest.raises(ValueError, match='workers must be >= 1, got 0'):
        generate_synthetic_coco(str(tmp_path / 'x'), workers=0, log=_quiet)


def test_size_mix_is_followed_and_checked(tmp_path):
    # Only medium objects asked for: every written box is COCO medium.
    # One object per image: no occlusion shrinks a box into another range.
    medium = generate_synthetic_coco(
        str(tmp_path / 'medium'),
        num_train=30,
        num_val=0,
        max_objects=1,
        size_mix=(0, 1, 0),
        log=_quiet,
    )
    counts = medium['splits']['train']['area_counts']
    assert counts['medium'] == 30 and counts['small'] == 0 and counts['large'] == 0
    # The default mix: the range is drawn once per object, so a large object that does not fit
    # is tried again as large (before, the retry redrew the range and small ones took over).
    mixed = generate_synthetic_coco(str(tmp_path / 'mixed'), num_train=150, num_val=0, log=_quiet)
    counts = mixed['splits']['train']['area_counts']
    share = {k: v / sum(counts.values()) for k, v in counts.items()}
    assert 0.28 <= share['small'] <= 0.45 and share['medium'] >= 0.4 and share['large'] >= 0.08
    assert mixed['params']['size_mix'] == [0.35, 0.45, 0.2]
    for bad in ((0.5, 0.5), (0.5, 0.6, 0.1), (1.2, -0.2, 0.0)):
        with pytest.raises(ValueError, match=r'size_mix must be three probabilities'):
            generate_synthetic_coco(str(tmp_path / 'bad'), size_mix=bad, log=_quiet)


def test_coco2017_layout_has_cocos_files_classes_and_ids(tmp_path):
    from mmdet.datasets import CocoDataset

    from ssd_plugin.datasets import SSDCocoDataset

    out = str(tmp_path / 'coco')
    manifest = generate_synthetic_coco(
        out, num_train=6, num_val=3, seed=2, min_objects=3, layout='coco2017', log=_quiet
    )
    assert manifest['classes'] == list(CocoDataset.METAINFO['classes'])
    assert sorted(os.listdir(out)) == ['annotations', 'manifest.json', 'train2017', 'val2017']
    assert len(os.listdir(osp.join(out, 'val2017'))) == 3
    gt = _load_coco(osp.join(out, 'annotations/instances_train2017.json'))
    cats = gt.loadCats(gt.getCatIds())
    assert [c['name'] for c in cats] == list(CocoDataset.METAINFO['classes'])
    ids = [c['id'] for c in cats]
    assert len(ids) == 80 and ids[:12] == [*range(1, 12), 13] and ids[-1] == 90  # COCO's gaps
    used = {a['category_id'] for a in gt.loadAnns(gt.getAnnIds())}
    assert used <= set(ids) and max(used) > 12  # labels beyond the shapes' six
    # The plugin's dataset reads it with mmdet's COCO classes (it names any mismatch).
    dataset = SSDCocoDataset(
        data_root=out + '/',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=[],
    )
    assert len(dataset) == 6
    labels = {i['bbox_label'] for d in dataset for i in d['instances']}
    assert labels == {ids.index(c) for c in used}
    # Idempotent like the default layout, and an incomplete copy is written again.
    assert generate_synthetic_coco(
        out, num_train=6, num_val=3, seed=2, min_objects=3, layout='coco2017', log=_quiet
    )['skipped']


def test_voc0712_layout_round_trips_through_mmdets_voc_dataset(tmp_path):
    from mmdet.datasets import VOCDataset

    out = str(tmp_path / 'VOCdevkit')
    params = dict(num_train=4, num_val=2, seed=5, min_objects=2, layout='voc0712')
    manifest = generate_synthetic_coco(out, log=_quiet, **params)
    assert manifest['classes'] == list(VOCDataset.METAINFO['classes'])
    main = osp.join(out, 'VOC2007/ImageSets/Main')
    with open(osp.join(main, 'trainval.txt')) as f:
        trainval = f.read().split()
    with open(osp.join(main, 'test.txt')) as f:
        test = f.read().split()
    assert trainval == ['000000', '000001', '000002', '000003'] and test == ['000004', '000005']
    assert len(os.listdir(osp.join(out, 'VOC2007/JPEGImages'))) == 6
    assert sorted(os.listdir(osp.join(out, 'VOC2012/Annotations')))[0] == '2012_000000.xml'
    datasets = {
        (year, split): VOCDataset(
            data_root=out + '/',
            ann_file=f'VOC{year}/ImageSets/Main/{split}.txt',
            data_prefix=dict(sub_data_root=f'VOC{year}/'),
            test_mode=split == 'test',
            pipeline=[],
        )
        for year, split in (('2007', 'trainval'), ('2007', 'test'), ('2012', 'trainval'))
    }
    assert [len(d) for d in datasets.values()] == [4, 2, 4]
    assert datasets['2007', 'test'].metainfo['dataset_type'] == 'VOC2007'
    # Boxes as drawn: mmdet subtracts 1 from VOC's 1-based inclusive coordinates, so a
    # pixel-edge box [x1, x2) reads back as [x1, x2 - 1].
    for (year, split), stream in ((('2007', 'trainval'), 0), (('2012', 'trainval'), 2)):
        for idx, info in enumerate(datasets[year, split]):
            rng = np.random.default_rng([5, stream, idx])
            _, objects = draw_image(rng, 128, (2, 6), 0.6, (0.35, 0.45, 0.2), False, num_classes=20)
            assert [i['bbox_label'] for i in info['instances']] == [o[0] for o in objects]
            expected = [[x1, y1, x2 - 1, y2 - 1] for _, (x1, y1, x2, y2) in objects]
            assert [i['bbox'] for i in info['instances']] == expected
            assert cv2.imread(info['img_path']).shape == (128, 128, 3)


def test_bad_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match='layout must be one of synthetic, coco2017, voc0712'):
        generate_synthetic_coco(str(tmp_path / 'x'), layout='coco', log=_quiet)


_AFTER_OPENCV_THREADS = """
import sys, cv2, numpy as np
from synthetic_data import generate_synthetic_coco
cv2.setNumThreads(2)
img = np.random.default_rng(0).integers(0, 255, (2000, 2000, 3), dtype=np.uint8)
for _ in range(5):  # OpenCV's thread pool is up in this process
    cv2.GaussianBlur(cv2.resize(img, (1500, 1500)), (5, 5), 0)
generate_synthetic_coco(sys.argv[1], num_train=40, num_val=8, workers=2, log=lambda _: None)
print('generated, OpenCV threads', cv2.getNumThreads())
"""


def test_workers_do_not_hang_after_opencv_used_its_threads(tmp_path):
    """A worker forked while OpenCV's thread pool was up waited for it forever (the
    suite hung in this test file, after tests that used OpenCV in the pytest process)."""
    env = dict(os.environ, PYTHONPATH=osp.join(ROOT, 'tools'))
    cmd = [sys.executable, '-c', _AFTER_OPENCV_THREADS, str(tmp_path / 'data')]
    try:
        done = run_command(cmd, env, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail('generate_synthetic_coco(workers=2) hung after OpenCV had used its threads')
    assert_ok(done)
    assert 'generated, OpenCV threads 2' in done.stdout  # the caller's setting is back


def test_files_are_the_ones_the_documented_figures_were_measured_on(dataset):
    """The bytes of a small dataset, pinned: every figure of docs/demo.md and
    docs/benchmarks.md was measured on generated images, so a change to the drawing
    (even one that only speeds it up) must leave each file as it was, or say why not
    and re-measure."""
    out, _ = dataset
    digest = hashlib.sha256()
    for sub in ('annotations', 'train', 'val'):
        for name in sorted(os.listdir(osp.join(out, sub))):
            digest.update(name.encode())
            with open(osp.join(out, sub, name), 'rb') as f:
                digest.update(f.read())
    assert digest.hexdigest() == '5093a6837b8f572193425636e4461bf0a6bb63163cf63f70e73d9aafb3d759fb'
