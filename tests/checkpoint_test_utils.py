"""Damaged files, as a bad disk or a killed copy leaves them, for the fault tests (a
helper module of the tests, not part of the package)."""

import zipfile
from pathlib import Path
from typing import Union

__all__ = ['flip_bit_in_checkpoint']


def flip_bit_in_checkpoint(path: Union[str, Path], offset: int = 5) -> None:
    """Flip one bit inside the stored bytes of the first tensor of a ``torch.save`` file.

    The file stays a valid zip archive and ``torch.load`` still loads it (with
    one weight changed); only the record's CRC-32 tells.

    Args:
        path: The checkpoint, changed in place.
        offset: The byte of the tensor's data to change.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if '/data/' in i.filename)
    data = bytearray(path.read_bytes())
    header = info.header_offset  # local header: 30 bytes, then name and extra field
    name_len = int.from_bytes(data[header + 26 : header + 28], 'little')
    extra_len = int.from_bytes(data[header + 28 : header + 30], 'little')
    data[header + 30 + name_len + extra_len + offset] ^= 0x10
    path.write_bytes(bytes(data))
