"""The command-line arguments the tools share: ``--cfg-options`` (every config
tool), the Runner tools' (``train.py``, ``test.py``) and the model file and
backend of the tools that run a trained model (``test.py``, ``infer.py``)."""

import argparse
import os
from typing import List, Optional, Tuple

from mmengine.config import Config, DictAction

from .run_check_error import RunCheckError

__all__ = [
    'BACKENDS',
    'add_cfg_options_arg',
    'add_model_file_args',
    'add_runner_args',
    'export_local_rank',
    'set_model_files',
]

BACKENDS = ('pytorch', 'onnxruntime')


def add_cfg_options_arg(
    parser: argparse.ArgumentParser, example: str = 'train_dataloader.batch_size=4'
) -> None:
    """Add ``--cfg-options`` (mmengine's ``DictAction``), as every config tool takes it.

    Args:
        parser: The tool's parser, changed in place.
        example: The ``key=value`` examples the help text shows.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override settings of the config, as key=value pairs, e.g. {example}; a list '
        'value is key="[a,b]" or key=a,b, nested lists key="[(a,b),(c,d)]" (quotes needed, '
        'no spaces)',
    )


def add_model_file_args(parser: argparse.ArgumentParser) -> None:
    """Add the ``checkpoint`` positional (optional), ``--backend`` and ``--onnx``.

    :func:`set_model_files` checks them together (a checkpoint for ``pytorch``,
    an ONNX file for ``onnxruntime``) and applies them to the config.

    Args:
        parser: The tool's parser, changed in place, right after its ``config``.
    """
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (not with onnxruntime)')
    parser.add_argument('--backend', default='pytorch', help='pytorch or onnxruntime')
    parser.add_argument('--onnx', help='the tools/export_onnx.py file (--backend onnxruntime)')


def add_runner_args(parser: argparse.ArgumentParser, cfg_options_example: str) -> None:
    """Add ``--cfg-options``, ``--channels-last``, ``--launcher`` and ``--local-rank``.

    Args:
        parser: The tool's parser, changed in place.
        cfg_options_example: The ``key=value`` examples the help text shows.
    """
    add_cfg_options_arg(parser, cfg_options_example)
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='run the model in the channels_last memory format (adds ChannelsLastHook)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def export_local_rank(args: argparse.Namespace) -> argparse.Namespace:
    """Set ``LOCAL_RANK`` from ``--local-rank`` unless the launcher set it; returns ``args``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def set_model_files(
    cfg: Config,
    backend: str,
    checkpoint: Optional[str],
    onnx_file: Optional[str],
    config_path: str = 'the config',
) -> List[Tuple[str, str]]:
    """Apply :func:`add_model_file_args`' arguments to ``cfg``; the ``(what, path)`` files
    to check.

    ``pytorch``: ``cfg.load_from = checkpoint``. ``onnxruntime``: the model becomes
    the ONNX file's (:func:`ssd_plugin.apis.onnxruntime_detector.use_onnx_model`).

    Raises:
        RunCheckError: for a missing or doubled model file, an unknown backend,
            or an ONNX file that does not fit the config.
    """
    if backend not in BACKENDS:
        raise RunCheckError(f'--backend must be one of {", ".join(BACKENDS)}, got {backend!r}')
    if backend == 'pytorch':
        if onnx_file:
            raise RunCheckError('--onnx needs --backend onnxruntime')
        if not checkpoint:
            raise RunCheckError('give a CHECKPOINT (or --backend onnxruntime --onnx FILE)')
        cfg.load_from = checkpoint
        return [('checkpoint', checkpoint)]
    if not onnx_file:
        raise RunCheckError(
            '--backend onnxruntime needs --onnx FILE (written by tools/export_onnx.py)'
        )
    if checkpoint:
        raise RunCheckError(
            f'--backend onnxruntime runs {onnx_file}: give no CHECKPOINT ({checkpoint})'
        )
    from .onnxruntime_detector import use_onnx_model

    use_onnx_model(cfg, onnx_file, config_path)
    return []
