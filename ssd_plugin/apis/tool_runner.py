"""What ``train.py`` and ``test.py`` do around their Runner: register the
modules, build the config, join a CPU process group (and leave it after a
successful run, so that the process ends cleanly), and turn every
:class:`RunCheckError` (missing data, weights or checkpoint, an annotation
file that is not valid JSON) into one message and exit status 2.
"""

import argparse
import contextlib
import sys
from typing import Callable, Iterator

from mmengine.config import Config
from mmengine.logging import print_log

from ssd_plugin import register_all_modules

from .dataset_checks import invalid_json_error, is_json_error
from .distributed import destroy_distributed, exit_with_launcher, init_cpu_distributed
from .run_check_error import RunCheckError

__all__ = ['EXIT_MISSING', 'json_errors_named', 'run_tool']

EXIT_MISSING = 2  # the exit status of a run stopped by a RunCheckError


@contextlib.contextmanager
def json_errors_named(cfg: Config, config_path: str, mode: str) -> Iterator[None]:
    """Re-raise a ``json.JSONDecodeError`` (which names no file) as a
    :class:`RunCheckError` naming each annotation file that does not parse."""
    try:
        yield
    except ValueError as err:
        error = invalid_json_error(cfg, config_path, mode) if is_json_error(err) else None
        if error is None:
            raise
        raise error from err


def run_tool(
    args: argparse.Namespace,
    mode: str,
    build_config: Callable[[argparse.Namespace], Config],
    run: Callable[[Config], None],
) -> int:
    """Build the config of ``args`` and run it; returns the exit status.

    Args:
        args: The parsed command line; needs ``config`` and ``launcher``.
        mode: ``'train'`` or ``'test'``, for the annotation files named.
        build_config: Loads and checks the config (raises RunCheckError).
        run: Builds the Runner and runs it.

    Returns:
        0, or :data:`EXIT_MISSING` after printing the RunCheckError.
    """
    if args.launcher != 'none':  # a worker of torchrun (or slurm, mpi) ends with it
        exit_with_launcher()
    register_all_modules(init_default_scope=False)
    from mmdet.utils import setup_cache_size_limit_of_dynamo

    setup_cache_size_limit_of_dynamo()
    try:
        cfg = build_config(args)
        note = init_cpu_distributed(cfg, args.launcher)
        if note:
            print_log(note, logger='current')
        with json_errors_named(cfg, args.config, mode):
            run(cfg)
        destroy_distributed()  # in the interpreter's finalization it may abort the process
    except RunCheckError as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_MISSING
    return 0
