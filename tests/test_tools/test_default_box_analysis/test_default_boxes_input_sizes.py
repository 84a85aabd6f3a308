"""The config at another input size: strides, scaled boxes and pipelines, FLOPs."""

import pytest
import torch
from default_boxes_test_utils import CONFIG
from mmengine.config import Config

from analysis_tools.default_box_analysis.ground_truth import (
    DefaultBoxesError,
    anchor_generator_cfg,
    build_anchor_generator,
)
from analysis_tools.default_box_analysis.input_sizes import (
    configured_input,
    featmap_sizes,
    model_flops,
    num_priors,
    resized_config,
    scaled_resizes,
    strides_for,
)

SSDLITE = [(16, 16), (32, 32), (64, 64), (107, 107), (160, 160), (320, 320)]


@pytest.mark.parametrize(
    'size, featmaps, want',
    [
        (320, [20, 10, 5, 3, 2, 1], [16, 32, 64, 107, 160, 320]),  # the configured ones kept
        (384, [24, 12, 6, 3, 2, 1], [16, 32, 64, 128, 192, 384]),
        (640, [40, 20, 10, 5, 3, 2], [16, 32, 64, 128, 214, 320]),  # 640/3 rounded up
    ],
)
def test_strides_follow_the_feature_maps(size, featmaps, want):
    assert strides_for(SSDLITE, [(f, f) for f in featmaps], size, size) == want


@pytest.mark.slow  # builds the model and traces it twice for FLOPs
def test_resized_config_scales_pipelines_and_boxes(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(CONFIG.format(data_root=str(tmp_path) + '/'))
    cfg = Config.fromfile(str(path))
    assert configured_input(cfg) == (128, 128)
    gen_cfg = anchor_generator_cfg(cfg, str(path))
    gen = build_anchor_generator(gen_cfg)
    from ssd_plugin.registry import MODELS

    model = MODELS.build(cfg.model)
    maps = featmap_sizes(model, 256, 256)
    assert maps == [(32, 32), (16, 16), (8, 8)]
    new, new_gen, loaders, words = resized_config(cfg, gen, gen_cfg, 256, maps)
    assert new_gen['input_size'] == 256 and new_gen['strides'] == [8, 16, 32]
    assert new_gen['min_sizes'] == [128, 192, 224] and new_gen['max_sizes'] == [192, 224, 256]
    step = new.train_dataloader.dataset.dataset.pipeline[3]
    assert tuple(step['scale']) == (256, 256)
    assert cfg.train_dataloader.dataset.dataset.pipeline[3]['scale'] == (128, 128)  # a copy
    assert loaders['train_dataloader']['dataset']['dataset']['pipeline'][3]['scale'] == (256, 256)
    assert words == ['train_dataloader.dataset.dataset.pipeline.3.scale=(256,256)']
    assert num_priors(build_anchor_generator(new_gen), 256, 256) == 4 * (1024 + 256 + 64)
    # FLOPs of the convolutions: 4x the pixels, 4x the FLOPs
    assert model_flops(model, 256, 256) == pytest.approx(4 * model_flops(model, 128, 128), rel=0.02)


def test_scaled_resizes_reach_wrappers_inside_concat_lists():
    # A ConcatDataset of a plain dataset and a RepeatDataset: both resizes scale, as
    # --cfg-options keys that merge into the config.
    def leaf():
        return dict(type='CocoDataset', pipeline=[dict(type='Resize', scale=(100, 50))])

    ds = dict(type='ConcatDataset', datasets=[leaf(), dict(type='RepeatDataset', dataset=leaf())])
    cfg = Config(dict(train_dataloader=dict(dataset=ds)))
    changes = scaled_resizes(cfg, 2.0)
    assert changes == {
        'train_dataloader.dataset.datasets.0.pipeline.0.scale': (200, 100),
        'train_dataloader.dataset.datasets.1.dataset.pipeline.0.scale': (200, 100),
    }
    cfg.merge_from_dict(changes)
    datasets = cfg.train_dataloader.dataset.datasets
    assert tuple(datasets[0].pipeline[0].scale) == (200, 100)
    assert tuple(datasets[1].dataset.pipeline[0].scale) == (200, 100)


def test_a_size_the_model_cannot_run_at_is_named():
    """A kernel larger than a deep feature map (VGG16's extras below 300) ends the tool
    with its error, naming the size, not with a traceback."""

    class TooSmall(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def extract_feat(self, x):
            return [self.conv(self.conv(x)[:, :3, ::64, ::64])]

    model = TooSmall()
    assert featmap_sizes(model, 256, 256) == [(2, 2)]
    with pytest.raises(DefaultBoxesError, match=r'cannot run at 128x128'):
        featmap_sizes(model, 128, 128)
