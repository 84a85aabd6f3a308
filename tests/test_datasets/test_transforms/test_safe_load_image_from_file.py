"""SafeLoadImageFromFile: named errors or skips on bad files; gray, RGBA and
16-bit PNGs come out as 3-channel uint8."""

import cv2
import numpy as np
import pytest
from log_test_utils import mmlogger_messages
from mmengine.dataset import BaseDataset

from ssd_plugin.datasets.transforms import ImageLoadError, SafeLoadImageFromFile
from ssd_plugin.registry import TRANSFORMS


def _image(h=24, w=32, c=3, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    high = 65535 if dtype == np.uint16 else 255
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(0, high, size=shape, endpoint=True).astype(dtype)


def _load(path, **kwargs):
    return TRANSFORMS.build(dict(type='SafeLoadImageFromFile', **kwargs))(dict(img_path=str(path)))


def test_valid_jpeg_equals_mmcv_loader(tmp_path):
    path = tmp_path / 'ok.jpg'
    cv2.imwrite(str(path), _image())
    ours = _load(path)
    theirs = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=str(path)))
    assert np.array_equal(ours['img'], theirs['img'])
    assert ours['img_shape'] == ours['ori_shape'] == (24, 32)


@pytest.mark.parametrize('suffix', ['.jpg', '.png'])
def test_truncated_file_raises_naming_the_path(tmp_path, suffix):
    path = tmp_path / f'cut{suffix}'
    ok, data = cv2.imencode(suffix, _image(64, 64))
    assert ok
    path.write_bytes(data.tobytes()[: len(data) * 2 // 3])
    with pytest.raises(ImageLoadError, match=f'truncated.*{path}'):
        _load(path)


def test_jpeg_with_bytes_after_end_marker_still_loads(tmp_path):
    path = tmp_path / 'trailer.jpg'
    ok, data = cv2.imencode('.jpg', _image())
    path.write_bytes(data.tobytes() + b'CAMERA-TRAILER' * 4)
    assert _load(path)['img'].shape == (24, 32, 3)


@pytest.mark.parametrize(
    'content, reason',
    [(b'', 'empty'), (b'this is not an image at all', 'Cannot decode'), (None, 'not found')],
)
def test_missing_empty_and_corrupt_files_raise_naming_the_path(tmp_path, content, reason):
    path = tmp_path / 'bad.jpg'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as err:
        _load(path)
    assert str(path) in str(err.value)


def test_skip_returns_none_and_the_dataset_draws_another(tmp_path):
    good, bad = tmp_path / 'good.png', tmp_path / 'bad.png'
    cv2.imwrite(str(good), _image())
    bad.write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    assert _load(bad, on_error='skip') is None

    class Files(BaseDataset):
        def load_data_list(self):
            return [dict(img_path=str(bad)), dict(img_path=str(good))]

    dataset = Files(
        pipeline=[dict(type='SafeLoadImageFromFile', on_error='skip')], serialize_data=False
    )
    assert dataset[0]['img_path'] == str(good)
    with pytest.raises(ValueError, match='on_error'):
        SafeLoadImageFromFile(on_error='ignore')


@pytest.mark.parametrize(
    'channels, dtype', [(1, np.uint8), (4, np.uint8), (1, np.uint16), (3, np.uint16)]
)
def test_gray_rgba_and_16bit_png_become_bgr_uint8(tmp_path, channels, dtype):
    img = _image(c=channels, dtype=dtype)
    path = tmp_path / 'img.png'
    assert cv2.imwrite(str(path), img)
    out = _load(path)['img']
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    expected = (img >> 8).astype(np.uint8) if dtype == np.uint16 else img
    if channels == 1:
        expected = np.repeat(expected[..., None], 3, axis=2)
    assert np.array_equal(out, expected[..., :3])
    float_out = _load(path, to_float32=True)['img']
    assert float_out.dtype == np.float32 and np.array_equal(float_out, out)


@pytest.mark.parametrize('channels', [1, 4])
def test_pillow_backend_gives_three_channels_too(tmp_path, channels):
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), _image(c=channels))
    out = _load(path, imdecode_backend='pillow')['img']
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8


def _jpeg_with_orientation(path, h, w, orientation):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_image(h, w)[..., ::-1].copy()).save(str(path), exif=exif.tobytes())


def test_exif_orientation_is_not_applied_and_the_file_is_named(tmp_path):
    """The rule: the stored pixels (what the COCO file's width and height describe).
    mmcv's colour decode used to turn a 128x96 JPEG with Orientation=6 into 96x128."""
    path = tmp_path / 'turned.jpg'
    _jpeg_with_orientation(path, 96, 128, 6)
    loader = TRANSFORMS.build(dict(type='SafeLoadImageFromFile'))
    with mmlogger_messages() as messages:
        for _ in range(2):
            results = loader(dict(img_path=str(path), height=96, width=128))
    assert results['img'].shape == (96, 128, 3) and results['ori_shape'] == (96, 128)
    named = [m for m in messages if 'EXIF Orientation=6 not applied' in m]
    assert len(named) == 1 and str(path) in named[0], messages  # once per file


def test_annotated_size_other_than_the_image_is_refused_naming_both(tmp_path):
    path = tmp_path / 'small.jpg'
    cv2.imwrite(str(path), _image(128, 128))
    loader = TRANSFORMS.build(dict(type='SafeLoadImageFromFile'))
    with pytest.raises(ImageLoadError, match=r'gives 640x480 .* but the image is 128x128'):
        loader(dict(img_path=str(path), height=480, width=640))
    assert loader(dict(img_path=str(path), height=128, width=128))['img'].shape == (128, 128, 3)
    skip = TRANSFORMS.build(dict(type='SafeLoadImageFromFile', on_error='skip'))
    assert skip(dict(img_path=str(path), height=480, width=640)) is None
    # An annotation of the EXIF-rotated size says so.
    turned = tmp_path / 'turned.jpg'
    _jpeg_with_orientation(turned, 96, 128, 6)
    with pytest.raises(ImageLoadError, match=r'turned by its EXIF Orientation=6'):
        loader(dict(img_path=str(turned), height=128, width=96))
