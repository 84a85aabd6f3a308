"""SSDCocoDataset: bad boxes filtered with a count or an error, clipping,
unknown categories and metainfo classes named, empty images as configured."""

import json

import pytest
from log_test_utils import mmlogger_messages

from ssd_plugin.registry import DATASETS

CLASSES = ('cat', 'dog')


def _write(tmp_path, annotations, categories=None, images=None) -> str:
    images = images or [
        dict(id=1, file_name='a.jpg', width=100, height=80),
        dict(id=2, file_name='b.jpg', width=100, height=80),
    ]
    categories = categories or [dict(id=1, name='cat'), dict(id=2, name='dog')]
    for i, ann in enumerate(annotations, 1):
        ann.setdefault('id', i)
        ann.setdefault('image_id', 1)
        ann.setdefault('category_id', 1)
        ann.setdefault('area', 100.0)
        ann.setdefault('iscrowd', 0)
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return str(path)


def _build(ann_file, filter_empty_gt=False, **kwargs):
    return DATASETS.build(
        dict(
            type='SSDCocoDataset',
            ann_file=ann_file,
            data_prefix=dict(img=''),
            metainfo=dict(classes=kwargs.pop('classes', CLASSES)),
            filter_cfg=dict(filter_empty_gt=filter_empty_gt),
            pipeline=[],
            **kwargs,
        )
    )


def _boxes(dataset, idx=0):
    return [inst['bbox'] for inst in dataset.get_data_info(idx)['instances']]


@pytest.fixture
def log_messages():
    with mmlogger_messages() as messages:
        yield messages


def test_zero_and_negative_boxes_are_filtered_with_a_logged_count(tmp_path, log_messages):
    ann_file = _write(
        tmp_path,
        [
            dict(bbox=[10, 10, 20, 20]),
            dict(bbox=[10, 10, 0, 20]),
            dict(bbox=[10, 10, 20, -5]),
            dict(bbox=[10, 10, float('nan'), 5]),
        ],
    )
    dataset = _build(ann_file)
    assert _boxes(dataset) == [[10.0, 10.0, 30.0, 30.0]]
    assert dataset.annotation_counts['invalid'] == 2 and dataset.annotation_counts['malformed'] == 1
    assert any(
        'dropped 2 annotations of zero or negative size and 1 whose bbox is not 4 finite numbers'
        in m
        for m in log_messages
    )
    assert any(ann_file in m for m in log_messages)


def test_invalid_box_error_names_file_image_annotation_and_box(tmp_path):
    ann_file = _write(tmp_path, [dict(bbox=[10, 10, 20, 20]), dict(id=7, bbox=[1, 2, -3, 4])])
    with pytest.raises(ValueError) as err:
        _build(ann_file, invalid_box='error')
    message = str(err.value)
    for part in (ann_file, 'annotation id 7', 'a.jpg', '[1, 2, -3, 4]'):
        assert part in message
    with pytest.raises(ValueError, match='invalid_box'):
        _build(ann_file, invalid_box='drop')


def test_boxes_partly_outside_are_clipped_and_outside_ones_dropped(tmp_path):
    ann_file = _write(
        tmp_path,
        [
            dict(bbox=[-10, -5, 30, 25]),  # sticks out top-left
            dict(bbox=[90, 70, 40, 40]),  # sticks out bottom-right (image 100 x 80)
            dict(bbox=[150, 10, 20, 20]),  # fully outside
            dict(bbox=[99.5, 10, 5, 20]),  # 0.5 px inside after clipping
        ],
    )
    dataset = _build(ann_file)
    assert _boxes(dataset) == [[0.0, 0.0, 20.0, 20.0], [90.0, 70.0, 100.0, 80.0]]
    counts = dataset.annotation_counts
    assert (counts['clipped'], counts['outside'], counts['tiny']) == (3, 1, 1)
    # Without clipping the box keeps its extent (mmdet's behaviour).
    assert _boxes(_build(ann_file, clip_to_image=False))[0] == [-10.0, -5.0, 20.0, 20.0]


def test_unknown_category_id_names_file_and_id(tmp_path):
    ann_file = _write(
        tmp_path, [dict(bbox=[1, 1, 9, 9]), dict(id=5, bbox=[1, 1, 9, 9], category_id=9)]
    )
    with pytest.raises(ValueError) as err:
        _build(ann_file)
    message = str(err.value)
    assert ann_file in message and 'category_id 9' in message and 'annotation id 5' in message


def test_class_subset_drops_other_categories_and_missing_class_is_an_error(tmp_path):
    ann_file = _write(tmp_path, [dict(bbox=[1, 1, 9, 9]), dict(bbox=[2, 2, 9, 9], category_id=2)])
    dataset = _build(ann_file, classes=('dog',))
    assert [i['bbox_label'] for i in dataset.get_data_info(0)['instances']] == [0]
    assert dataset.annotation_counts['unselected'] == 1
    with pytest.raises(ValueError, match=r"\['Dog'\] are not categories.*'cat', 'dog'"):
        _build(ann_file, classes=('cat', 'Dog'))


def test_images_without_objects_filtered_or_kept_as_configured(tmp_path):
    ann_file = _write(tmp_path, [dict(bbox=[1, 1, 9, 9]), dict(bbox=[1, 1, 0, 9], image_id=2)])
    assert len(_build(ann_file, filter_empty_gt=True)) == 1
    kept = _build(ann_file, filter_empty_gt=False)
    assert len(kept) == 2
    assert kept.get_data_info(1)['instances'] == []


def test_labels_follow_metainfo_and_crowd_is_ignored(tmp_path):
    ann_file = _write(
        tmp_path, [dict(bbox=[1, 1, 9, 9], category_id=2), dict(bbox=[5, 5, 9, 9], iscrowd=1)]
    )
    instances = _build(ann_file).get_data_info(0)['instances']
    assert [(i['bbox_label'], i['ignore_flag']) for i in instances] == [(1, 0), (0, 1)]


def test_annotations_of_missing_images_are_counted_and_reported(tmp_path, log_messages):
    ann_file = _write(
        tmp_path,
        [
            dict(bbox=[10, 10, 20, 20]),
            dict(id=5, image_id=9, bbox=[10, 10, 20, 20]),
            dict(id=6, image_id=9, bbox=[1, 1, 20, 20]),
            dict(id=8, image_id=12, bbox=[1, 1, 20, 20]),
        ],
    )
    dataset = _build(ann_file)
    assert dataset.annotation_counts['orphan'] == 3
    assert len(dataset) == 2 and len(_boxes(dataset)) == 1
    line = next(m for m in log_messages if 'missing from "images"' in m)
    for part in (ann_file, '3 annotations point to 2 image ids', '[9, 12]', '[5, 6, 8]'):
        assert part in line, line


def test_annotation_file_that_is_not_json_is_named_with_the_position(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ValueError) as err:
        _build(str(path))
    message = str(err.value)
    assert str(path) in message and 'not valid JSON' in message
    assert 'line 2 column 12' in message, message


def test_duplicate_image_ids_are_refused_naming_the_id_and_both_files(tmp_path):
    images = [
        dict(id=1, file_name='a.jpg', width=100, height=80),
        dict(id=7, file_name='b.jpg', width=100, height=80),
        dict(id=7, file_name='c.jpg', width=100, height=80),
    ]
    ann = _write(tmp_path, [dict(bbox=[1, 1, 10, 10], image_id=7)], images=images)
    with pytest.raises(
        ValueError, match=r'1 image ids are used by more than one image \(id 7: b.jpg, c.jpg\)'
    ):
        _build(ann)


def test_no_usable_image_left_says_why_with_counts(tmp_path):
    """mmengine used to fail with "need at least one array to concatenate"."""
    ann = _write(tmp_path, [dict(bbox=[1, 1, 0, 5]), dict(bbox=[500, 500, 10, 10], image_id=2)])
    with pytest.raises(ValueError) as info:
        _build(ann, filter_empty_gt=True)
    msg = str(info.value)
    assert 'no usable image is left. The file has 2 images' in msg, msg
    assert '2 more whose boxes were all dropped' in msg
    assert '1 of zero or negative size, 1 outside their image' in msg


def test_unterminated_string_message_reads_once_at(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_text('{"images": [{"file_name": "a.jpg')
    with pytest.raises(
        ValueError, match=r'Unterminated string starting at line 1 column 27'
    ) as info:
        _build(str(path))
    assert 'at at' not in str(info.value)


def test_out_of_memory_in_the_pipeline_names_the_image(tmp_path):
    from ssd_plugin.registry import TRANSFORMS

    @TRANSFORMS.register_module(force=True)
    class _Exhausting:  # stands for Expand on a 10000x10000 image
        def __call__(self, results):
            raise MemoryError('Unable to allocate 4.47 GiB for an array')

    ann = _write(tmp_path, [dict(bbox=[1, 1, 10, 10])])
    dataset = DATASETS.build(
        dict(
            type='SSDCocoDataset', ann_file=ann, data_prefix=dict(img='imgs/'),
            metainfo=dict(classes=CLASSES), pipeline=[dict(type='_Exhausting')],
        )
    )  # fmt: skip
    with pytest.raises(MemoryError, match=r'imgs/a.jpg \(100x80 in .*ann.json\): out of memory'):
        dataset[0]
