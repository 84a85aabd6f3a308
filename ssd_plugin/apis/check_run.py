"""Every check a ``train``, ``test``, ``browse`` or ``infer`` run needs before
its Runner is built, so that missing things end in one clear message instead
of a stack trace deep inside a build; and :func:`run_tool`, what ``train.py``
and ``test.py`` do around their Runner, which turns every
:class:`RunCheckError` into that message and exit status 2.
"""

import argparse
import contextlib
import inspect
import os
import sys
from typing import Any, Callable, FrozenSet, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from ssd_plugin import register_all_modules
from ssd_plugin.registry import HOOKS, SCOPE
from ssd_plugin.utils.strict_args import unknown_keys_message

from .dataset_checks import dataset_problems, invalid_json_error, is_json_error, used_dataloaders
from .device import destroy_distributed, exit_with_launcher, init_cpu_distributed
from .run_check_error import EXIT_MISSING, RunCheckError
from .weights import checkpoint_problems, resume_problem, weight_problems

__all__ = ['check_run', 'hook_problems', 'json_errors_named', 'run_tool']

# What CheckpointHook passes to Runner.save_checkpoint itself; its **kwargs may add the rest.
_SAVE_ARGS_OF_HOOK = frozenset(
    ['self', 'out_dir', 'filename', 'file_client_args', 'save_optimizer', 'save_param_scheduler']
    + ['meta', 'by_epoch', 'backend_args']
)


def _named_params(func: Callable) -> FrozenSet[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(func).parameters.values()
    return frozenset(p.name for p in params if p.kind in kinds and p.name != 'self')


def _accepted_keys(cls: type) -> Optional[FrozenSet[str]]:
    """The config keys a hook class takes, or None when it takes any (``**kwargs``)."""
    params = inspect.signature(cls.__init__).parameters.values()
    keys = _named_params(cls.__init__) | {'type', 'priority', '_scope_'}  # popped by the Runner
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return keys
    if issubclass(cls, CheckpointHook):  # its **kwargs go to Runner.save_checkpoint
        return keys | (_named_params(Runner.save_checkpoint) - _SAVE_ARGS_OF_HOOK)
    return None


def hook_problems(cfg: Any) -> List[str]:
    """One line per hook of ``default_hooks`` and ``custom_hooks`` given keys it
    does not take, with the closest accepted key and the accepted ones.

    mmengine's ``CheckpointHook`` takes ``**kwargs`` and hands them to
    ``Runner.save_checkpoint`` at the first save, so a misspelled key
    (``intervall=1``, ``max_keep_ckpt=1``) would train a whole interval and then
    fail with a ``TypeError``, leaving no checkpoint; other hooks fail when the
    Runner builds them, with a bare ``TypeError``. Hooks whose type is not
    registered are left to the Runner's own error.
    """
    hooks: List[Tuple[str, Any]] = [
        (f'default_hooks.{name}', hook) for name, hook in (cfg.get('default_hooks') or {}).items()
    ]
    hooks += [(f'custom_hooks[{i}]', h) for i, h in enumerate(cfg.get('custom_hooks') or [])]
    problems = []
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or SCOPE):
        for where, hook in hooks:
            if not hasattr(hook, 'items') or 'type' not in hook:
                continue
            kind, scope = hook['type'], hook.get('_scope_')  # _scope_: from a mmdet:: base
            if isinstance(kind, str) and scope and '.' not in kind:
                kind = f'{scope}.{kind}'
            cls = kind if isinstance(kind, type) else HOOKS.get(kind)
            accepted = _accepted_keys(cls) if isinstance(cls, type) else None
            if accepted is None:
                continue
            unknown = [key for key in hook if key not in accepted]
            if unknown:
                shown = accepted - {'type', '_scope_'}
                problems.append(unknown_keys_message(f'{where} ({cls.__name__})', unknown, shown))
    return problems


def _section(title: str, problems: Sequence[str], hints: Sequence[str] = ()) -> List[str]:
    return ['\n'.join([title] + [f'  - {p}' for p in problems] + list(hints))] if problems else []


def check_run(
    cfg: Any,
    config_path: str,
    mode: str,
    checkpoints: Sequence[Tuple[str, str]] = (),
) -> None:
    """Run every check for a ``train``, ``test``, ``browse`` or ``infer`` run.

    Args:
        cfg: The merged config (after ``--cfg-options``).
        config_path: The config file, named in the message.
        mode: ``'train'`` (hook settings, train + val data, pretrained
            weights, load_from or the resume checkpoint), ``'test'`` (hook
            settings, test data), ``'browse'`` (train data only) or
            ``'infer'`` (no data).
        checkpoints: ``(what, path)`` pairs given on the command line, e.g.
            ``[('checkpoint', args.checkpoint)]``.

    Raises:
        RunCheckError: naming the config, each missing thing and its fix.
    """
    problems = [p for what, path in checkpoints for p in checkpoint_problems(path, what)]
    sections = _section('Checkpoint not found or not usable:', problems)
    if mode in ('train', 'test'):
        sections += _section('Unknown hook settings:', hook_problems(cfg))
    problems, hints = dataset_problems(cfg, used_dataloaders(cfg, mode))
    title = f'Dataset not found (relative paths are from {os.getcwd()}):'
    sections += _section(title, problems, hints)
    if mode == 'train':
        resuming = bool(cfg.get('resume'))
        if resuming and isinstance(cfg.get('load_from'), str):
            section = resume_problem(cfg['load_from'], cfg.get('work_dir'))
            sections += [section] if section else []
        problems = weight_problems(cfg, include_load_from=not resuming)
        sections += _section('Pretrained weights not available:', problems)
    if sections:
        raise RunCheckError(
            f'Cannot start the {mode} run of config {config_path}:\n\n' + '\n\n'.join(sections)
        )


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
    """Build the config of ``args`` and run it: register the modules, join a CPU
    process group (and leave it after a successful run, so that the process
    ends cleanly); returns the exit status.

    Args:
        args: The parsed command line; needs ``config``, ``launcher`` and
            ``local_rank`` (:func:`~ssd_plugin.apis.tool_config.add_runner_args`).
        mode: ``'train'`` or ``'test'``, for the annotation files named.
        build_config: Loads and checks the config (raises RunCheckError).
        run: Builds the Runner and runs it.

    Returns:
        0, or :data:`EXIT_MISSING` after printing the RunCheckError (missing
        data, weights or checkpoint, an annotation file that is not valid JSON).
    """
    if 'LOCAL_RANK' not in os.environ:  # torch.distributed.launch passes --local-rank instead
        os.environ['LOCAL_RANK'] = str(args.local_rank)
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
