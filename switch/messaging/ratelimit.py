"""A per-channel token bucket: at most `rate` sends a second, bursts of at most `burst`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, rate: float, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def delay(self) -> float:
        """Seconds until one send is allowed (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self, stop: threading.Event | None = None) -> bool:
        """Wait for a token and take it; False if `stop` was set while waiting."""
        while (wait := self.delay()) > 0:
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)
        self._tokens -= 1
        return True
