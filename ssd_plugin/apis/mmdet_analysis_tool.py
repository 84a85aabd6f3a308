"""Run one of mmdet's analysis tools (``mmdet/.mim/tools/analysis_tools``) on
the plugin's configs and work dirs.

mmdet installs its tools inside its package. They work on plugin configs once
the plugin is registered and the stack's gaps are bridged; :func:`run_mmdet_tool`
does both and then calls the tool's own ``main()``, with the tool's own
command line. Each gap is bridged only for the tool that hits it:

* every tool: the plugin's registries and mmengine's checkpoint loader fix
  (``ssd_plugin.utils.checkpoint_compat``: torch >= 2.6 loads with
  ``weights_only=True``, which mmengine 0.10.7's loader does not handle);
* ``analyze_logs``: the script imports seaborn only for ``sns.set_style``;
  where seaborn (and pandas, which it needs) is not installed, matplotlib's
  copy of the same styles (``seaborn-v0_8-<style>``) stands in;
  a work dir is accepted in place of its ``scalars.json``;
* ``benchmark``: needs psutil, which mmdet does not require; without it the
  script died on an AttributeError at import, now a message says what to install;
  ``--task inference`` is mmdet's GPU benchmark (``model.cuda()``): without
  CUDA it is refused with a message instead of "Torch not compiled with CUDA";
"""

import glob
import importlib.util
import os.path as osp
import sys
import types
from typing import Dict, List, Optional

__all__ = [
    'MMDET_ANALYSIS_TOOLS',
    'find_scalars_json',
    'mmdet_tool_path',
    'run_mmdet_tool',
]

# The tools this project runs and documents (docs/analysis_tools.md).
MMDET_ANALYSIS_TOOLS = (
    'analyze_logs',
    'analyze_results',
    'benchmark',
    'confusion_matrix',
    'get_flops',
)


def mmdet_tool_path(name: str) -> str:
    """Path of ``analysis_tools/<name>.py`` in the installed mmdet.

    Raises:
        FileNotFoundError: mmdet has no such tool (e.g. an mmdet installed
            from a source tree without ``.mim``); the message names the paths tried.
    """
    import mmdet

    root = osp.dirname(osp.abspath(mmdet.__file__))
    tried = [
        osp.join(root, '.mim', 'tools', 'analysis_tools', f'{name}.py'),
        # editable mmdet: the repository's tools/ next to the package
        osp.join(osp.dirname(root), 'tools', 'analysis_tools', f'{name}.py'),
    ]
    for path in tried:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'mmdet {mmdet.__version__} has no analysis tool {name!r}: tried {tried}'
    )


def find_scalars_json(path: str) -> str:
    """``path`` itself if it is a file, else the newest ``*/vis_data/scalars.json`` in it.

    Raises:
        FileNotFoundError: naming ``path`` when it holds no training log.
    """
    if not osp.isdir(path):
        return path
    found = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(
            f'{path}: no training log in it (expected {path}/TIMESTAMP/vis_data/scalars.json, '
            'written by tools/train.py with the LocalVisBackend)'
        )
    return found[-1]


def _seaborn_stand_in() -> None:
    """Put a ``seaborn`` with only ``set_style`` in ``sys.modules`` if seaborn is missing."""
    if importlib.util.find_spec('seaborn') is not None:
        return
    import matplotlib.pyplot as plt

    def set_style(style: Optional[str] = None, rc: Optional[Dict] = None) -> None:
        if style is not None:
            name = f'seaborn-v0_8-{style}'
            if name not in plt.style.available:
                raise ValueError(
                    f'--style {style!r}: no matplotlib style {name!r} (seaborn is not '
                    f'installed); use one of darkgrid, whitegrid, dark, white, ticks'
                )
            plt.style.use(name)
        if rc:
            plt.rcParams.update(rc)

    module = types.ModuleType('seaborn')
    module.set_style = set_style
    module.__doc__ = 'ssd_plugin stand-in: set_style from matplotlib seaborn-v0_8 styles'
    sys.modules['seaborn'] = module


def _prepare_analyze_logs(argv: List[str]) -> List[str]:
    _seaborn_stand_in()
    if len(argv) < 2 or argv[0] not in ('plot_curve', 'cal_train_time'):
        return argv
    out = [argv[0]]
    for i, arg in enumerate(argv[1:], 1):
        # positional json_logs come before the first option
        if arg.startswith('-'):
            return out + argv[i:]
        out.append(find_scalars_json(arg))
    return out


def _prepare_benchmark(argv: List[str]) -> List[str]:
    # mmdet.utils.benchmark imports psutil under try/except, then fails at import
    # with "'NoneType' object has no attribute 'Process'" when it is missing.
    if importlib.util.find_spec('psutil') is None:
        raise ModuleNotFoundError(
            'benchmark.py needs psutil (mmdet.utils.benchmark reports memory with it): '
            'pip install psutil'
        )
    import torch

    task = argv[argv.index('--task') + 1] if '--task' in argv[:-1] else 'dataloader'
    if task == 'inference' and not torch.cuda.is_available():
        # mmdet's InferenceBenchmark calls model.cuda() and torch.cuda.synchronize().
        raise RuntimeError(
            'benchmark.py --task inference runs on a CUDA GPU only (mmdet moves the model '
            'to the GPU); on this machine use --task dataloader or --task dataset'
        )
    return argv


def run_mmdet_tool(name: str, argv: Optional[List[str]] = None) -> int:
    """Run mmdet's ``analysis_tools/<name>.py`` with the plugin registered.

    Args:
        name: One of :data:`MMDET_ANALYSIS_TOOLS`.
        argv: The tool's command line (without the program); ``sys.argv[1:]`` if None.

    Returns:
        0 when the tool's ``main()`` returns (a tool that exits raises SystemExit).

    Raises:
        ValueError: ``name`` is not a supported tool.
    """
    if name not in MMDET_ANALYSIS_TOOLS:
        raise ValueError(f'unknown mmdet analysis tool {name!r}; supported: {MMDET_ANALYSIS_TOOLS}')
    argv = list(sys.argv[1:] if argv is None else argv)
    from ssd_plugin import register_all_modules  # also applies checkpoint_compat

    register_all_modules(init_default_scope=False)
    if name == 'analyze_logs':
        argv = _prepare_analyze_logs(argv)
    elif name == 'benchmark':
        argv = _prepare_benchmark(argv)
    path = mmdet_tool_path(name)
    spec = importlib.util.spec_from_file_location(f'mmdet_analysis_tools_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = sys.argv
    sys.argv = [path] + argv
    try:
        module.main()
    finally:
        sys.argv = saved
    return 0
