"""The per-channel token bucket, on a clock the test moves."""

from __future__ import annotations

import threading

from switch.messaging.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=4, burst=3, clock=clock)      # binary fractions: exact floats
    assert [limiter.take() for _ in range(3)] == [True] * 3    # the burst
    assert limiter.delay() == 0.25                             # then one per 1/rate s
    clock.t += 0.125
    assert limiter.delay() == 0.125
    clock.t += 0.125
    assert limiter.delay() == 0 and limiter.take()
    clock.t += 60                                              # idle time refills the burst,
    assert [limiter.take() for _ in range(3)] == [True] * 3    # never beyond it
    assert limiter.delay() == 0.25


def test_waiting_for_a_token_ends_when_the_sender_stops() -> None:
    limiter = RateLimiter(rate=0.01, burst=1)
    assert limiter.take()
    stop = threading.Event()
    stop.set()
    assert limiter.take(stop) is False
