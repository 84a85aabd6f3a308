"""Installation of ssd_plugin, an MMDetection 3.x plugin implementing SSD."""

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_version() -> str:
    text = (ROOT / 'ssd_plugin' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


setup(
    name='ssd_plugin',
    version=read_version(),
    description='SSD (Single Shot MultiBox Detector) as MMDetection 3.x registered components',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.7.1,<1.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmdet>=3.0.0,<4.0.0',
        'pycocotools>=2.0.9',
        'numpy',
    ],
    extras_require={'tests': ['pytest', 'onnx', 'onnxruntime'], 'lint': ['ruff']},
    zip_safe=False,
)
