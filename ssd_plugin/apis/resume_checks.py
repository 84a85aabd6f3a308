"""Resume checks: the checkpoint ``--resume`` continues from, skipping a
truncated one (a run killed while saving without the ``atomic_local`` backend)
or a ``last_checkpoint`` that names none, and why a given one is not usable.
"""

import os
import os.path as osp
import zipfile
from typing import Optional, Tuple

from .weight_checks import checkpoint_problems

__all__ = ['is_complete_checkpoint', 'find_resume_checkpoint', 'resume_problem']


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole ``torch.save`` file.

    ``torch.save`` writes a zip archive whose central directory comes last,
    so a file cut short by a killed save is no valid zip.
    """
    return osp.isfile(path) and osp.getsize(path) > 0 and zipfile.is_zipfile(path)


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """The checkpoint to resume from in ``work_dir``, and a note when it is not
    the one ``last_checkpoint`` names.

    Returns:
        ``(path, note)``: ``last_checkpoint``'s file when it is complete;
        otherwise the newest complete ``*.pth`` of ``work_dir`` (or None),
        with a note saying why.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    last = None
    if osp.isfile(record):
        with open(record) as f:
            last = f.read().strip() or None
    if last is not None and is_complete_checkpoint(last):
        return last, None
    candidates = []
    if osp.isdir(work_dir):
        for name in os.listdir(work_dir):
            path = osp.join(work_dir, name)
            if name.endswith('.pth') and not name.startswith('.') and is_complete_checkpoint(path):
                candidates.append((osp.getmtime(path), path))
    if last is None and not candidates:
        return None, None
    why = (
        f'{record} names {last}, which is missing or truncated'
        if last is not None
        else f'{record} is missing or empty'
    )
    if not candidates:
        return None, f'{why}, and {work_dir} holds no complete checkpoint; starting afresh'
    newest = max(candidates)[1]
    return newest, f'{why}; resuming from the newest complete checkpoint {newest}'


def resume_problem(checkpoint: str, work_dir: Optional[str] = None) -> Optional[str]:
    """The message section when ``--resume CHECKPOINT`` cannot be resumed from, else None.

    A missing or truncated file is named with the complete checkpoints of
    ``work_dir`` to resume from instead.
    """
    lines = [f'  - {p}' for p in checkpoint_problems(checkpoint, 'resume checkpoint')]
    if not lines and osp.isfile(checkpoint) and not is_complete_checkpoint(checkpoint):
        lines.append(
            f'  - {checkpoint} is truncated or not a torch checkpoint '
            f'({osp.getsize(checkpoint)} bytes)'
        )
    if not lines:
        return None
    found = []
    if work_dir and osp.isdir(work_dir):
        found = sorted(
            osp.join(work_dir, n)
            for n in os.listdir(work_dir)
            if n.endswith('.pth') and n[0] != '.' and is_complete_checkpoint(osp.join(work_dir, n))
        )
    if found:
        lines.append(f'  Complete checkpoints in {work_dir}: {", ".join(found)}')
    lines.append(
        '  Pass one of them, or --resume without a path to take the newest complete checkpoint '
        'of the work directory (--work-dir).'
    )
    return '\n'.join(['Resume checkpoint not usable:'] + lines)
