"""Whether a checkpoint file is whole and unaltered, from the checksums it carries.

``torch.save`` (torch >= 1.6) writes a zip archive that stores a CRC-32 of the
bytes of every record (the pickled structure and each tensor's storage) in its
headers. Re-reading the records against those checksums finds a file cut
short (its central directory, written last, is missing) and a bit flipped at
rest or in transit (CRC-32 detects every single-bit and every burst error of
up to 32 bits), which ``torch.load`` does not check: it would load the flipped
weights silently.
"""

import os
import os.path as osp
import zipfile
import zlib
from typing import List, Optional, Tuple

from mmengine.runner import find_latest_checkpoint

__all__ = ['checkpoint_problem', 'work_dir_checkpoints']

# The first byte of a pickle (protocol >= 2): a torch.save file of the legacy
# format (_use_new_zipfile_serialization=False, torch < 1.6), which has no checksums.
_PICKLE_MAGIC = b'\x80'


def checkpoint_problem(path: str, allow_legacy: bool = False) -> Optional[str]:
    """Why ``path`` is not an intact ``torch.save`` file, or None when it is.

    Every record is read and checked against its stored CRC-32.

    Args:
        path: The checkpoint file.
        allow_legacy: Accept (unchecked) a file of torch's legacy, non-zip
            format. Checkpoints the runner writes are always zip files.

    Returns:
        E.g. ``'truncated or not a torch checkpoint (1234 bytes)'`` or
        ``'corrupt: record archive/data/3 does not match its CRC-32 checksum'``.
    """
    if not osp.isfile(path):
        return 'file not found'
    size = osp.getsize(path)
    if size == 0:
        return 'empty file (0 bytes)'
    if not zipfile.is_zipfile(path):
        if allow_legacy:
            with open(path, 'rb') as f:
                if f.read(1) == _PICKLE_MAGIC:
                    return None
        return f'truncated or not a torch checkpoint ({size} bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every record, checks its CRC-32
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        return f'corrupt: {err} ({size} bytes)'
    if bad is not None:
        return (
            f'corrupt: record {bad} does not match its CRC-32 checksum '
            '(bytes changed after the save: a bit flip or a partial overwrite)'
        )
    return None


def work_dir_checkpoints(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The checkpoint ``last_checkpoint`` names, and every checkpoint of ``work_dir``.

    Returns:
        ``(last, found)``: the path that ``work_dir/last_checkpoint`` holds
        (read by mmengine's ``find_latest_checkpoint``, as ``--resume`` does;
        None when it is missing or empty) and the ``*.pth`` files of
        ``work_dir``, newest first (the hidden temporary files of atomic
        writes left out).
    """
    last = None
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):  # else mmengine prints a line
        last = find_latest_checkpoint(work_dir) or None
    if not osp.isdir(work_dir):
        return last, []
    paths = [osp.join(work_dir, n) for n in os.listdir(work_dir) if n.endswith('.pth')]
    paths = [p for p in paths if osp.isfile(p) and not osp.basename(p).startswith('.')]
    return last, sorted(paths, key=osp.getmtime, reverse=True)
