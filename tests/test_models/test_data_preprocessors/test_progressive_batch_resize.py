"""ProgressiveBatchResize: which steps it resizes, and the boxes and shapes it scales."""

import pytest
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from ssd_plugin.models import ProgressiveBatchResize


def _sample(boxes) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(img_shape=(128, 120), pad_shape=(128, 128), batch_input_shape=(128, 128))
    )
    sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([1]))
    return sample


def _at(iter: int, epoch: int, max_epochs: int = 16) -> None:
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', iter)
    hub.update_info('epoch', epoch)
    hub.update_info('max_epochs', max_epochs)


@pytest.mark.parametrize(
    'iter,epoch,max_epochs,small',
    [
        (24, 0, 16, False),
        (25, 0, 16, True),
        (600, 3, 16, True),
        (752, 4, 16, False),
        (2000, 9, 16, False),
        (600, 3, 5, True),  # 4 + 1 epochs: the recipe
        (600, 3, 4, False),  # a shorter run keeps its last epoch at the full input
        (400, 2, 4, True),
        (100, 0, 1, True),  # one epoch: at the smaller input from begin_iter
    ],
)
def test_the_small_phase_runs_from_begin_iter_to_the_end_epoch(iter, epoch, max_epochs, small):
    resize = ProgressiveBatchResize(size=(96, 96), begin_iter=25, end_epoch=4)
    _at(iter, epoch, max_epochs)
    inputs = torch.rand(2, 3, 128, 128)
    out, _ = resize(inputs, [_sample(torch.tensor([[0.0, 8, 64, 128]])) for _ in range(2)])
    assert resize.is_active(iter, epoch, max_epochs) is small
    assert out.shape[-2:] == ((96, 96) if small else (128, 128))
    if not small:
        assert out is inputs


def test_boxes_and_shapes_scale_with_the_batch():
    resize = ProgressiveBatchResize(size=(96, 64), end_epoch=1)
    _at(0, 0)
    inputs = torch.rand(2, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    samples = [
        _sample(torch.tensor([[0.0, 8, 64, 128]])),
        _sample(HorizontalBoxes(torch.tensor([[4.0, 4, 40, 80]]))),  # mmdet's box type
    ]
    samples[1].ignored_instances = InstanceData(bboxes=torch.tensor([[8.0, 8, 16, 16]]))
    out, samples = resize(inputs, samples)
    # y by 96 / 128 = 0.75, x by 64 / 128 = 0.5
    assert out.shape == (2, 3, 96, 64)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert samples[0].gt_instances.bboxes.tolist() == [[0.0, 6.0, 32.0, 96.0]]
    assert samples[1].gt_instances.bboxes.tensor.tolist() == [[2.0, 3.0, 20.0, 60.0]]
    assert samples[1].ignored_instances.bboxes.tolist() == [[4.0, 6.0, 8.0, 12.0]]
    assert samples[0].img_shape == (96, 60) and samples[0].pad_shape == (96, 64)
    assert samples[0].batch_input_shape == (96, 64)


def test_only_training_batches_are_resized():
    preprocessor = DetDataPreprocessor(
        batch_augments=[dict(type='ssd_plugin.ProgressiveBatchResize', size=(96, 96), end_epoch=2)]
    )
    _at(0, 0)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8)],
        data_samples=[_sample(torch.tensor([[0.0, 8, 64, 128]]))],
    )
    assert preprocessor(data, training=False)['inputs'].shape[-2:] == (128, 128)
    assert preprocessor(data, training=True)['inputs'].shape[-2:] == (96, 96)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'end_epoch >= 1.*end_epoch=0'):
        ProgressiveBatchResize(size=(96, 96), end_epoch=0)
    with pytest.raises(TypeError, match='did you mean'):
        ProgressiveBatchResize(size=(96, 96), end_epochs=2)


def test_the_steps_at_the_smaller_input_of_a_run():
    resize = ProgressiveBatchResize(size=(96, 96), begin_iter=25, end_epoch=4)
    assert resize.num_steps(16, steps_per_epoch=188) == 4 * 188 - 25
    assert resize.num_steps(3, steps_per_epoch=188) == 2 * 188 - 25
    assert resize.num_steps(1, steps_per_epoch=10) == 0  # begin_iter after the only epoch
