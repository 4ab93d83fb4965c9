"""Card changes through the switch's own paths, so its cache and its journal stay one.

While the switch runs, requests go to its admin socket (`switch.cli`'s `_admin_request`); when
it is stopped, the state is recovered from the store and the entry appended, as `lps cards`
does. The console never writes `cards`, `lots` or `journal` rows itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from switch.cli import _admin_request
from switch.config import Config
from switch.core import entries as E
from switch.core.admin import AdminError, card_command
from switch.core.model import State
from switch.core.programs.rules import program_rules
from switch.server import release_lock, take_lock
from switch.store import SqliteStore, StoreError


class GatewayError(RuntimeError):
    """The switch refused or could not be reached; the message says which."""


def _offline(config: Config, decide: Callable[[State], E.Entry], now: dt.datetime) -> int:
    """Holding the switch's own lock, so a switch starting meanwhile waits for this entry
    (it refuses to start while the lock is held) instead of missing it in its cache."""
    store = SqliteStore(config.switch.database)
    try:
        state = store.load(config, program_rules(config), now)
        try:
            entry = decide(state)
        except AdminError as exc:
            raise GatewayError(str(exc)) from None
        store.append([entry])
        return entry.id
    finally:
        store.close()


def _send(config: Config, request: dict[str, object],
          decide: Callable[[State], E.Entry], now: dt.datetime) -> None:
    """To the running switch if there is one, else straight to the journal under its lock."""
    try:
        fd = take_lock(config.switch.database)
    except StoreError:  # a switch runs on this database: only it may change the cards
        _online(config, request)
        return
    try:
        _offline(config, decide, now)
    finally:
        release_lock(fd)


def _online(config: Config, request: dict[str, object]) -> None:
    try:
        reply = _admin_request(config, request)
    except OSError as exc:
        raise GatewayError(f"the switch's admin socket did not answer: {exc}") from None
    if not reply.get("ok"):
        raise GatewayError(f"the switch refused: {reply.get('error')}")


def card_status(config: Config, action: str, pan: str, now: dt.datetime) -> None:
    """`block` or `unblock` a card."""
    _send(config, {"cmd": action, "pan": pan},
          lambda state: card_command(state, action, pan, now), now)


def adjust(config: Config, pan: str, points: int, store: str, reason: str, actor: str,
           now: dt.datetime) -> None:
    """Credit or debit points (see `switch.console.adjust`)."""
    from switch.console.adjust import adjust_command

    _send(config, {"cmd": "adjust", "pan": pan, "points": points, "store": store,
                   "reason": reason, "by": actor},
          lambda state: adjust_command(state, pan, points, store, reason, actor, now), now)
