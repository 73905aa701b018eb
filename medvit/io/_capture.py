"""Collect library warnings instead of letting them reach the terminal.

pydicom reports oddities both through ``warnings`` and its ``pydicom`` logger (which,
with no handler configured, Python prints to stderr). Readers run inside
:func:`captured_warnings` and keep the messages in the image metadata instead.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@contextlib.contextmanager
def captured_warnings(loggers: tuple[str, ...] = ("pydicom", "nibabel", "PIL")) -> Iterator[list[str]]:
    """Yield a list that receives every warning message raised or logged inside the block.

    Messages are de-duplicated in order of first appearance when the block exits.
    """
    messages: list[str] = []
    handler = _ListHandler(messages)
    saved = []
    for name in loggers:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate))
        logger.addHandler(handler)
        logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield messages
        messages.extend(str(w.message) for w in caught)
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
        unique = list(dict.fromkeys(messages))
        messages[:] = unique
