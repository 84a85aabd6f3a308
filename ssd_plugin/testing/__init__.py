"""Helpers for tests, benchmarks and the demo (as mmdet's and mmyolo's ``testing``):
the synthetic COCO/VOC generator and config and model factories.

``import ssd_plugin`` does not import this package; configs must not either.
"""

from .config_files import config_dir, get_config, get_model_cfg
from .corrupt_files import flip_bit_in_checkpoint
from .dataset_layouts import COCO2017_CATEGORY_IDS, LAYOUTS, layout_categories
from .ssd_head_factories import (
    SSD_FEAT_SIZES,
    build_head_pair,
    mmdet_ssd_train_cfg,
    ssd_head_cfg,
    ssd_train_cfg,
)
from .synthetic_coco import (
    DEFAULT_NUM_TRAIN,
    DEFAULT_NUM_VAL,
    SYNTHETIC_CLASSES,
    generate_synthetic_coco,
    read_manifest,
)
from .tiny_detector import IMAGENET_MEAN, IMAGENET_STD, tiny_detector_cfg

__all__ = [
    'COCO2017_CATEGORY_IDS',
    'DEFAULT_NUM_TRAIN',
    'DEFAULT_NUM_VAL',
    'IMAGENET_MEAN',
    'IMAGENET_STD',
    'LAYOUTS',
    'SSD_FEAT_SIZES',
    'SYNTHETIC_CLASSES',
    'build_head_pair',
    'config_dir',
    'flip_bit_in_checkpoint',
    'generate_synthetic_coco',
    'get_config',
    'get_model_cfg',
    'layout_categories',
    'mmdet_ssd_train_cfg',
    'read_manifest',
    'ssd_head_cfg',
    'ssd_train_cfg',
    'tiny_detector_cfg',
]
