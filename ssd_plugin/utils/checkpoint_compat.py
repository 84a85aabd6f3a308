"""Let mmengine load full Runner checkpoints on torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``. mmengine
0.10.7's local-file loader calls ``torch.load(filename, map_location=...)``
without the argument, so resuming fails on the message hub, optimizer state and
numpy scalars that a Runner checkpoint holds.

The fix is scoped to mmengine's own extension point: the local-file scheme of
:class:`mmengine.runner.CheckpointLoader` is re-registered with a loader that
passes ``weights_only=False``, which is what the checkpoint format needs and
what torch < 2.6 did. Nothing in site-packages is edited, ``torch.load`` itself
is untouched, and remote schemes (``http://``, ``open-mmlab://``) keep
mmengine's behaviour. Where torch < 2.6, or the installed mmengine already
passes ``weights_only``, :func:`apply` is a no-op.

Only load checkpoints you trust: full unpickling can run arbitrary code, as it
always did before torch 2.6.
"""

import inspect
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.runner import checkpoint as mmengine_checkpoint
from packaging.version import Version

_applied = False


def needs_patch() -> bool:
    """Whether torch defaults to ``weights_only=True`` and mmengine ignores it."""
    if Version(torch.__version__.split('+')[0]) < Version('2.6'):
        return False
    source = inspect.getsource(mmengine_checkpoint.load_from_local)
    return 'weights_only' not in source


def load_from_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file loader, with ``weights_only=False``.

    Args:
        filename: Path of a checkpoint written by ``torch.save``.
        map_location: Same as :func:`torch.load`.

    Returns:
        The unpickled checkpoint (a dict for Runner checkpoints).

    Raises:
        FileNotFoundError: naming ``filename`` when it does not exist.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def apply() -> bool:
    """Install the loader once, where needed.

    Returns:
        True if the loader is installed (now or earlier), False if not needed.
    """
    global _applied
    if _applied:
        return True
    if not needs_patch():
        return False
    mmengine_checkpoint.CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True
    )
    _applied = True
    return True
