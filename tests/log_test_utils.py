"""What mmengine's current logger logs, for the tests: ``MMLogger`` does not
propagate to the root logger, so pytest's ``caplog`` does not see it."""

import contextlib
import logging
from typing import Iterator, List

from mmengine.logging import MMLogger


class _ListHandler(logging.Handler):
    def __init__(self, messages: List[str]) -> None:
        super().__init__()
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def mmlogger_messages() -> Iterator[List[str]]:
    """The messages the current ``MMLogger`` logs inside the block (a list, filled as they come)."""
    messages: List[str] = []
    logger = MMLogger.get_current_instance()
    handler = _ListHandler(messages)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
