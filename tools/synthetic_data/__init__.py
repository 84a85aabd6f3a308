"""The synthetic COCO/VOC shapes dataset of ``tools/generate_dataset.py``, which the
demo, the benchmarks and the tests also generate their data with.

``generator`` writes a dataset and its manifest, ``shapes`` draws the images,
``layouts`` says where each layout puts its files and writes its annotations,
``classes`` names the six shapes (the demo's configs write the same names).
"""

from .classes import SYNTHETIC_CLASSES
from .generator import DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, generate_synthetic_coco
from .layouts import LAYOUTS

__all__ = [
    'DEFAULT_NUM_TRAIN',
    'DEFAULT_NUM_VAL',
    'LAYOUTS',
    'SYNTHETIC_CLASSES',
    'generate_synthetic_coco',
]
