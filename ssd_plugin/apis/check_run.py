"""Every check a ``train``, ``test``, ``browse`` or ``infer`` run needs before
its Runner is built, so that missing things end in one clear message instead
of a stack trace deep inside a build.
"""

import os
from typing import Any, Sequence, Tuple

from ._config_walk import cfg_get, used_dataloaders
from .dataset_checks import dataset_problems
from .hook_checks import hook_problems
from .resume_checks import resume_problem
from .run_check_error import RunCheckError
from .weight_checks import checkpoint_problems, weight_problems

__all__ = ['check_run']


def check_run(
    cfg: Any,
    config_path: str,
    mode: str,
    checkpoints: Sequence[Tuple[str, str]] = (),
) -> None:
    """Run every check for a ``train``, ``test`` or ``infer`` run.

    Args:
        cfg: The merged config (after ``--cfg-options``).
        config_path: The config file, named in the message.
        mode: ``'train'`` (hook settings, train + val data, pretrained
            weights, load_from or the resume checkpoint), ``'test'`` (hook
            settings, test data), ``'browse'``
            (train data only) or ``'infer'`` (no data).
        checkpoints: ``(what, path)`` pairs given on the command line, e.g.
            ``[('checkpoint', args.checkpoint)]``.

    Raises:
        RunCheckError: naming the config, each missing thing and its fix.
    """
    if mode not in ('train', 'test', 'infer', 'browse'):
        raise ValueError(f'mode must be train, test, infer or browse, got {mode!r}')
    sections = []
    problems = [p for what, path in checkpoints for p in checkpoint_problems(path, what)]
    if problems:
        sections.append(
            'Checkpoint not found or not usable:\n' + '\n'.join(f'  - {p}' for p in problems)
        )
    if mode in ('train', 'test'):
        problems = hook_problems(cfg)
        if problems:
            sections.append('Unknown hook settings:\n' + '\n'.join(f'  - {p}' for p in problems))
    problems, hints = dataset_problems(cfg, used_dataloaders(cfg, mode))
    if problems:
        lines = [f'Dataset not found (relative paths are from {os.getcwd()}):']
        lines += [f'  - {p}' for p in problems] + hints
        sections.append('\n'.join(lines))
    if mode == 'train':
        load_from = cfg_get(cfg, 'load_from')
        resuming = bool(cfg_get(cfg, 'resume'))
        if resuming and isinstance(load_from, str):
            section = resume_problem(load_from, cfg_get(cfg, 'work_dir'))
            if section:
                sections.append(section)
        problems = weight_problems(cfg, include_load_from=not resuming)
        if problems:
            lines = ['Pretrained weights not available:']
            lines += [f'  - {p}' for p in problems]
            sections.append('\n'.join(lines))
    if sections:
        raise RunCheckError(
            f'Cannot start the {mode} run of config {config_path}:\n\n' + '\n\n'.join(sections)
        )
