"""The error the run checks raise, and the first check: the config file exists."""

import os.path as osp

__all__ = ['RunCheckError', 'check_config_file']


class RunCheckError(Exception):
    """A missing file or unusable setting; the message says how to fix it."""


def check_config_file(path: str) -> None:
    """Raise :class:`RunCheckError` unless the config file exists."""
    if not osp.isfile(path):
        raise RunCheckError(f'Config file not found: {path} (resolved: {osp.abspath(path)})')
