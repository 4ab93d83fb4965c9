"""`handle(state, message, now)`: one request through the core's straight line, in process.

The same steps as the switch's shell (switch/server.py), without sockets, an HSM or a writer:
parse -> needs -> fetch (the journal: `fetch`, or what is in memory) -> decide -> encode check
-> apply. Tests, benchmarks and the settlement simulation use it; the server runs the steps
itself so that it can wait for a TCP HSM and encode the reply for the connection's profile.

Any exception while deciding or encoding answers `96` and changes nothing, as in the shell.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from iso8583 import Profile, load_profile
from iso8583.message import Message
from switch.core.apply import apply
from switch.core.card_store import reading_lots
from switch.core.decide import decide
from switch.core.facts import NO_CHECKS, Checks, Facts, Needs, SessionKeyRefs
from switch.core.ledger import available_points
from switch.core.luhn import redact
from switch.core.needs import in_memory, needs
from switch.core.outcome import Decision, system_error
from switch.core.request import Ignored, Request, parse_request, request_digest
from switch.core.state import State

#: What answers a request's journal needs: `Journal.fetch` (switch/journal), or a test's own.
Fetch = Callable[[Needs, Checks], Facts]
#: What reads the lots of a card a lazy recovery left in the journal: `Journal.fill`.
Fill = Callable[[State, str], None]

__all__ = ["NO_CHECKS", "Checks", "Decision", "Fetch", "Fill", "SessionKeyRefs", "available_points",
           "handle", "handle_request", "request_digest"]


def handle(state: State, msg: Message, now: dt.datetime, checks: Checks = NO_CHECKS,
           fetch: Fetch | None = None, profile: Profile | None = None,
           fill: Fill | None = None) -> Decision:
    """Decide one request and apply it. Never raises for bad input: a decline is a response
    code, a message that is not answered is a decision without a response.

    `fetch` answers the journal rows a decision needs; without it only what is in memory is
    there (a state never journaled). `fill` reads the lots of a card a lazy recovery left
    in the journal (without it such a card answers `96`). `profile` is what the reply must
    encode in (`ascii`).
    """
    return handle_request(state, parse_request(msg, state.protocol), now, checks, fetch,
                          profile, fill)


def handle_request(state: State, parsed: Request | Ignored, now: dt.datetime,
                   checks: Checks = NO_CHECKS, fetch: Fetch | None = None,
                   profile: Profile | None = None, fill: Fill | None = None) -> Decision:
    """`handle` from the parsed request on: what the shell reads from a frame
    (`switch.connection.read_frame`) goes on from here the same way."""
    if isinstance(parsed, Ignored):
        return Decision(None, reason=parsed.reason, close=parsed.close)
    need = needs(state, parsed)
    facts = fetch(need, checks) if fetch is not None and need.journal \
        else in_memory(state, need, checks)
    try:
        if fill is None:
            decision = decide(state, parsed, facts, now)
        else:
            if parsed.pan and state.cards.unread(parsed.pan):  # as the shell does
                fill(state, parsed.pan)
            decision = reading_lots(lambda: decide(state, parsed, facts, now),
                                    functools.partial(fill, state))
        if decision.response is not None:
            (profile or _ascii()).encode(decision.response)
    except Exception as exc:  # a bug or an unencodable reply: 96, nothing changed
        return system_error(parsed, redact(f"{type(exc).__name__}: {exc}"))
    apply(state, decision)
    return decision


@functools.cache
def _ascii() -> Profile:
    """The profile replies are checked against when the caller names none."""
    return load_profile("ascii")
