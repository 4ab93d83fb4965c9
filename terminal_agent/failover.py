"""Switch failover without I/O (docs/agent.md "Switch failover"): which address to try next, and
where a pending reversal is due and which answer settles it.

The agent cannot know whether the switches it lists share one database (nodes of one switch)
or not. An answer `25` (original not found) from a switch other than the one the original was
sent to therefore does not prove that the original changed nothing: the reversal stays due on
the original's switch until that switch answers it, or until the operator takes that switch
out of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOT_FOUND = "25"
ORIGINAL_SWITCH = "switch"  # context key: the address the original 0200 was sent to
NOT_FOUND_ON = "not_found_on"  # context key: the addresses that answered the reversal 25


@dataclass
class HostRing:
    """The configured addresses in order of preference and the one in use.

    A failure moves to the next address at once; when every address has failed in a row the
    caller backs off and the next round starts again from the first.
    """

    hosts: tuple[str, ...]
    index: int = 0
    failures: int = 0  # consecutive failures since the last sign-on

    @property
    def current(self) -> str:
        return self.hosts[self.index]

    @property
    def first(self) -> str:
        return self.hosts[0]

    @property
    def on_first(self) -> bool:
        return self.index == 0

    def failed(self) -> bool:
        """The current address failed (connect, sign-on, timeout). True when that completes a
        round of failures: the caller waits before trying the first address again."""
        self.failures += 1
        if self.failures >= len(self.hosts):
            self.failures = 0
            self.index = 0
            return True
        self.index = (self.index + 1) % len(self.hosts)
        return False

    def signed_on(self) -> None:
        self.failures = 0

    def back_to_first(self) -> None:
        self.index = 0
        self.failures = 0

    def replace(self, hosts: tuple[str, ...]) -> bool:
        """A new list (live config). Keeps the address in use when it is still listed; returns
        True when it is not, and the link must move to the new first address."""
        current = self.current
        self.hosts = hosts
        self.failures = 0
        if current in hosts:
            self.index = hosts.index(current)
            return False
        self.index = 0
        return True


def reversal_due(context: dict[str, Any], host: str) -> bool:
    """Whether a pending reversal is to be sent on `host`: everywhere, except on a switch that
    has already answered it `25` while its original went to another switch."""
    return host not in context.get(NOT_FOUND_ON, [])


def settles_reversal(context: dict[str, Any], host: str, code: str,
                     hosts: tuple[str, ...]) -> bool:
    """Whether `code` from `host` settles a reversal. Any answer but `25` does; `25` does when
    `host` is the switch its original went to (or that switch is unknown or no longer listed)."""
    original = context.get(ORIGINAL_SWITCH)
    return code != NOT_FOUND or original is None or original == host or original not in hosts


def note_not_found(context: dict[str, Any], host: str) -> dict[str, Any]:
    """The reversal's context after `host` answered it `25` without settling it."""
    seen = [h for h in context.get(NOT_FOUND_ON, []) if h != host]
    return {**context, NOT_FOUND_ON: [*seen, host]}


def orphaned(context: dict[str, Any], hosts: tuple[str, ...]) -> bool:
    """A reversal kept for a switch that has left the list: the `25` it already got settles it."""
    original = context.get(ORIGINAL_SWITCH)
    return bool(context.get(NOT_FOUND_ON)) and original is not None and original not in hosts
