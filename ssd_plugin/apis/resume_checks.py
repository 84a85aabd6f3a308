"""Resume checks: the checkpoint ``--resume`` continues from, skipping one that
is truncated (a run killed while saving without the ``atomic_local`` backend),
corrupt (its bytes no longer match the CRC-32 checksums ``torch.save`` stored)
or that an empty ``last_checkpoint`` names none, and why a given one is not
usable.
"""

import os.path as osp
from typing import Optional, Tuple

from ssd_plugin.fileio import checkpoint_problem, work_dir_checkpoints

from .weight_checks import checkpoint_problems

__all__ = ['find_resume_checkpoint', 'resume_problem']


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint to resume from in ``work_dir``, and a note when it is not
    the one ``last_checkpoint`` names.

    Returns:
        ``(path, note)``: ``last_checkpoint``'s file when it is intact;
        otherwise the newest intact ``*.pth`` of ``work_dir`` (or None), with
        a note saying why and naming the checkpoints passed over.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    last, found = work_dir_checkpoints(work_dir)
    problem = checkpoint_problem(last) if last is not None else None
    if last is not None and problem is None:
        return last, None
    if last is None and not found:
        return None, None
    why = (
        f'{record} names {last}: {problem}' if last is not None else f'{record} is missing or empty'
    )
    skipped, intact = [], None
    for path in found:  # newest first; each costs one read of the file
        bad = checkpoint_problem(path) if path != last else problem
        if not bad:
            intact = path
            break
        if path != last:
            skipped.append(f'{path} ({bad})')
    if skipped:
        why += '; not usable either: ' + ', '.join(skipped)
    if intact is None:
        return None, f'{why}; {work_dir} holds no intact checkpoint; starting afresh'
    return intact, f'{why}; resuming from the newest intact checkpoint {intact}'


def resume_problem(checkpoint: str, work_dir: Optional[str] = None) -> Optional[str]:
    """The message section when ``--resume CHECKPOINT`` cannot be resumed from, else None.

    A missing, truncated or corrupt file is named with the intact checkpoints
    of ``work_dir`` to resume from instead.
    """
    lines = [f'  - {p}' for p in checkpoint_problems(checkpoint, 'resume checkpoint', verify=False)]
    if not lines and osp.isfile(checkpoint):
        problem = checkpoint_problem(checkpoint)
        if problem:
            lines.append(f'  - {checkpoint}: {problem}')
    if not lines:
        return None
    _, found = work_dir_checkpoints(work_dir or '')
    intact = sorted(p for p in found if checkpoint_problem(p) is None)
    if intact:
        lines.append(f'  Intact checkpoints in {work_dir}: {", ".join(intact)}')
        lines.append(
            '  Pass one of them, or --resume without a path to take the newest intact '
            'checkpoint of the work directory (--work-dir).'
        )
    else:
        lines.append(
            f'  {work_dir or "The work directory"} holds no intact checkpoint; train without '
            '--resume to start afresh.'
        )
    return '\n'.join(['Resume checkpoint not usable:'] + lines)
