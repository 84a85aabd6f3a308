"""Import-time checks of the torch and OpenMMLab versions this plugin supports.

It reads the installed distributions' metadata only: this module imports
nothing that may be missing, so its message is what a user sees first.
"""

from importlib import metadata
from typing import Dict, Tuple

from packaging.version import Version

# name -> (minimum inclusive, maximum exclusive, what to install)
SUPPORTED: Dict[str, Tuple[str, str, str]] = {
    'torch': ('1.8.0', '3.0.0', 'pip install torch  (CPU: run tools/setup_env.sh; tested: 2.13.0)'),
    'mmengine': ('0.7.1', '1.0.0', 'pip install "mmengine>=0.7.1,<1.0"  (tested: 0.10.7)'),
    'mmcv': (
        '2.0.0rc4',
        '2.2.0',
        'pip install "mmcv>=2.0.0rc4,<2.2.0" with compiled ops: run tools/setup_env.sh '
        '(CPU) or `mim install mmcv==2.1.0` (CUDA); see README "Installation"',
    ),
    'mmdet': ('3.0.0', '4.0.0', 'pip install "mmdet>=3.0,<4"  (tested: 3.3.0)'),
}


def check_dependencies() -> None:
    """Raise ``ImportError`` naming the package, its version and the fix.

    Raises:
        ImportError: if mmengine, mmcv or mmdet is missing or outside the
            supported range.
    """
    problems = []
    for name, (low, high, fix) in SUPPORTED.items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f'  - {name} is not installed; {fix}')
            continue
        if not Version(low) <= Version(found) < Version(high):
            problems.append(f'  - {name}=={found} found, need >={low},<{high}; {fix}')
    if problems:
        raise ImportError('ssd_plugin cannot be imported:\n' + '\n'.join(problems))
