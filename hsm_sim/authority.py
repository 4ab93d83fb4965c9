"""The Authorised state: what lets host commands that hand out clear secrets run.

A payShield answers `NE` (split a key into clear components) with error `17` unless security
officers have put it in the Authorised state at its console (console command `A`), for a
bounded time; console command `C`, host command `RA` or the end of that time leave it. The
simulator keeps the rule (docs/hsm.md §6, "Authorised state"): the state is off when
`lps-hsm serve` starts, is entered only from its local console (`hsm_sim/console.py`), never
from the host port, and ends by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Host commands refused with error `17` outside the Authorised state.
AUTHORISED_COMMANDS = frozenset({"NE"})
#: The longest authorisation the console grants: a payShield 10K's console authorisation ends
#: after 12 hours.
MAX_MINUTES = 720


class AuthorisedState:
    """Whether, and until when, the HSM is authorised. Off until `enter` is called."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: float | None = None

    def enter(self, minutes: int) -> None:
        """Authorise for `minutes` (1 to MAX_MINUTES) from now."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) \
                or not 1 <= minutes <= MAX_MINUTES:
            raise ValueError(f"an authorisation lasts 1 to {MAX_MINUTES} minutes")
        self._until = self._clock() + 60 * minutes

    def cancel(self) -> None:
        self._until = None

    def remaining(self) -> float:
        """Seconds left in the Authorised state (0.0: not authorised)."""
        if self._until is None:
            return 0.0
        left = self._until - self._clock()
        if left <= 0:
            self._until = None
            return 0.0
        return left

    @property
    def active(self) -> bool:
        return self.remaining() > 0
