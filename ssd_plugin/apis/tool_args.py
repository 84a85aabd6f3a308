"""The command-line arguments the tools share: ``--cfg-options`` (every config
tool), the Runner tools' (``train.py``, ``test.py``) and the model file and
backend of the tools that run a trained model (``test.py``, ``infer.py``)."""

import argparse
import os

from mmengine.config import DictAction

__all__ = ['add_cfg_options_arg', 'add_model_file_args', 'add_runner_args', 'export_local_rank']


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

    :func:`ssd_plugin.apis.onnxruntime_detector.configure_backend` checks them
    together (a checkpoint for ``pytorch``, an ONNX file for ``onnxruntime``).

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
