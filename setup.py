"""Installation of ssd_plugin, an MMDetection 3.x plugin implementing SSD.

Like mmdet and mmyolo, the package carries its configs and tools in
``ssd_plugin/.mim/`` (OpenMMLab's ``mim`` layout): after ``pip install .``,
``ssd_plugin::ssd300_coco.py`` names a config (in ``_base_`` and in
``Config.fromfile``) and ``mim train ssd_plugin ssd300_coco.py`` runs
``.mim/tools/train.py``. A wheel gets copies; an editable install
(``pip install -e .``) gets symbolic links to the source folders instead.
"""

import os
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What goes into ssd_plugin/.mim/, as in mmdet: the whole folders (configs/_base_ included,
# so the relative `_base_` paths inside them keep working) and the model index.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '.pytest_cache')
# Run at interpreter start-up from site-packages: teaches mmengine `ssd_plugin::`
# without importing ssd_plugin (see _ssd_plugin_mim/__init__.py).
PTH_NAME = 'ssd_plugin_mim.pth'
PTH_LINE = 'import _ssd_plugin_mim; _ssd_plugin_mim.install()\n'


def read_version() -> str:
    text = (ROOT / 'ssd_plugin' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


def copy_mim_items(dest: Path) -> None:
    """Copy MIM_ITEMS into ``dest`` (``.../ssd_plugin/.mim``), replacing what is there."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in MIM_ITEMS:
        src = ROOT / name
        if not src.exists():
            raise FileNotFoundError(f'setup.py: {src} is missing; the package needs it in .mim/')
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=MIM_IGNORE)
        else:
            shutil.copy2(src, dest / name)


def link_mim_items(dest: Path) -> None:
    """Link MIM_ITEMS from ``dest`` (the source tree's ``ssd_plugin/.mim``) to the sources."""
    dest.mkdir(exist_ok=True)
    for name in MIM_ITEMS:
        link = dest / name
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        os.symlink(os.path.relpath(ROOT / name, dest), link)


class BuildPyWithMim(build_py):
    """build_py, plus ssd_plugin/.mim and the start-up ``.pth`` in the build."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim_items(ROOT / 'ssd_plugin' / '.mim')
            return
        build_lib = Path(self.build_lib)
        copy_mim_items(build_lib / 'ssd_plugin' / '.mim')
        (build_lib / PTH_NAME).write_text(PTH_LINE)

    def get_outputs(self, include_bytecode=1):
        # Lets `install --record` and editable mappings know the generated files.
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, 'editable_mode', False):
            outputs.append(str(Path(self.build_lib) / PTH_NAME))
        return outputs


setup(
    name='ssd_plugin',
    version=read_version(),
    description='SSD (Single Shot MultiBox Detector) as MMDetection 3.x registered components',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(
        exclude=('tests', 'tests.*', 'configs', 'configs.*', 'tools', 'tools.*')
    ),
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.7.1,<1.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmdet>=3.0.0,<4.0.0',
        'pycocotools>=2.0.9',
        'numpy',
    ],
    extras_require={
        'tests': ['pytest', 'onnx>=1.14,<1.18', 'onnxruntime>=1.20,<1.26', 'sahi'],
        # mmdeploy 1.3.1 and the onnx/onnxruntime versions that accept its protobuf<=3.20.2
        # (docs/deployment.md); tools/deploy.py.
        'deploy': [
            'mmdeploy==1.3.1',
            'protobuf==3.20.2',
            'onnx>=1.14,<1.18',
            'onnxruntime>=1.20,<1.26',
        ],
        # ssd_plugin.FasterCocoMetric
        'eval': ['faster-coco-eval>=1.8'],
        'lint': ['ruff'],
        # `mim train ssd_plugin CONFIG` / `mim test ...` (optional; .mim/tools run without it).
        'mim': ['openmim'],
    },
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
