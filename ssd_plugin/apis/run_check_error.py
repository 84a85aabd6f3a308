"""The error of a tool run stopped before its work, and the exit status it ends with."""

__all__ = ['EXIT_MISSING', 'RunCheckError']

EXIT_MISSING = 2  # the exit status of a run stopped by a RunCheckError


class RunCheckError(Exception):
    """A missing file or unusable setting; the message says how to fix it."""
