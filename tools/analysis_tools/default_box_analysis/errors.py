"""The error of the default-box tool."""


class DefaultBoxesError(Exception):
    """Unusable input (config, dataset, options); the message says what and how to fix it."""
