"""A progress bar on stderr for long runs: a few lines of code rather than a dependency.

It redraws at most five times a second and only on a terminal (or when forced), so logs and
pipes get no carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Bar:
    def __init__(self, total: int, label: str, stream: TextIO | None = None,
                 enabled: bool | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.2 or self.done >= self.total):
            self._drawn = now
            self.draw(now)

    def draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {frac:4.0%} {self.done:,}/{self.total:,} "
            f"{now - self.started:5.1f}s"
        )
        self.stream.flush()

    def finish(self, note: str = "") -> None:
        if self.enabled:
            if self.done < self.total:
                self.draw(time.monotonic())
            self.stream.write(f" {note}\n" if note else "\n")
            self.stream.flush()
