"""An agent logger's records, kept and awaited one after another as they come."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from tests.waits import EVENT


class Records(logging.Handler):
    """A logger's records, kept, and awaited one after another as they come."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.all: list[logging.LogRecord] = []
        self._queue: asyncio.Queue[logging.LogRecord] = asyncio.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        self.all.append(record)
        self._queue.put_nowait(record)

    async def wait(self, text: str) -> logging.LogRecord:
        """The next record that says `text`, within EVENT however many others come first."""
        async def next_saying() -> logging.LogRecord:
            while text not in (got := await self._queue.get()).getMessage():
                pass
            return got

        return await asyncio.wait_for(next_saying(), EVENT)


@contextlib.contextmanager
def recording(logger: str) -> Iterator[Records]:
    """`logger`'s records while the block runs (its handler removed after)."""
    records = Records()
    log = logging.getLogger(logger)
    log.addHandler(records)
    try:
        yield records
    finally:
        log.removeHandler(records)
