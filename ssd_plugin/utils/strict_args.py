"""Reject unknown config keys and constructor arguments, with a "did you mean".

A misspelled key (``neg_pos_ration``, ``smoothl1_beeta``, ``score_thresh``)
must not train exactly as if it were absent. Two tools:

* :func:`check_keys` for the contents of a config dict (``train_cfg``,
  ``test_cfg``, a sub-config the caller maps by hand);
* :func:`strict_init`, a class decorator that gives a constructor's
  "unexpected keyword argument" ``TypeError`` the component's name, the
  closest accepted name and the full list, before the constructor runs.
"""

import difflib
import functools
import inspect
from typing import Collection, Iterable, Mapping, TypeVar

__all__ = ['check_keys', 'closest', 'strict_init', 'unknown_keys_message']

T = TypeVar('T', bound=type)


def closest(key: str, accepted: Iterable[str]) -> str:
    """The accepted name closest to ``key`` (difflib, cutoff 0.6), or ''."""
    matches = difflib.get_close_matches(key, list(accepted), n=1, cutoff=0.6)
    return matches[0] if matches else ''


def unknown_keys_message(where: str, unknown: Iterable[str], accepted: Collection[str]) -> str:
    """``"<where>: unknown key 'x' (did you mean 'y'?); accepted: a, b, c"``."""
    parts = []
    for key in unknown:
        hint = closest(str(key), accepted)
        parts.append(f'{key!r}' + (f' (did you mean {hint!r}?)' if hint else ''))
    noun = 'key' if len(parts) == 1 else 'keys'
    return f'{where}: unknown {noun} {", ".join(parts)}; accepted: {", ".join(sorted(accepted))}'


def check_keys(mapping: Mapping, accepted: Collection[str], where: str) -> None:
    """Raise ``ValueError`` if ``mapping`` has keys outside ``accepted``.

    Args:
        mapping: A config dict (``None`` or empty passes).
        accepted: The keys the owner reads.
        where: What the dict is, e.g. ``'SSDHead train_cfg'``.

    Raises:
        ValueError: naming every unknown key, its closest accepted key and
            the accepted keys.
    """
    if not mapping:
        return
    unknown = [k for k in mapping if k not in accepted]
    if unknown:
        raise ValueError(unknown_keys_message(where, unknown, accepted))


def strict_init(cls: T) -> T:
    """Make ``cls(**kwargs)`` name unknown keyword arguments with a hint.

    The constructor's signature (typed, explicit arguments) is kept as it is;
    only a keyword it does not declare is caught, as a ``TypeError`` whose
    message names the class, the closest accepted argument and the list.
    Constructors with ``**kwargs`` are left alone (they accept anything).
    """
    init = cls.__init__
    params = inspect.signature(init).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise TypeError(f'strict_init: {cls.__name__}.__init__ takes **kwargs')
    accepted = tuple(
        name
        for name, p in params.items()
        if name != 'self'
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise TypeError(unknown_keys_message(type(self).__name__, unknown, accepted))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls
