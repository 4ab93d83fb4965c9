"""Operator commands on keys and PINs, as journal entries (pure: the HSM was asked before).

`lps keys new-terminal`, `lps keys load-bdk`, `lps pin set`, `lps pin reset` reach these
through the running switch's admin socket, or directly on the store when it is stopped, so
the cache and the journal stay one. They receive only what the HSM returned: keys and PINs
under the LMK, and check values.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from switch.core import entries as E
from switch.core.admin import AdminError
from switch.core.authorizer import SECURITY
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok
from switch.core.model import State

SECURITY_COMMANDS = frozenset({"set-tmk", "set-bdk", "set-pin", "pin-reset"})
_KEY = re.compile(r"U[0-9A-F]{32}")
_KCV = re.compile(r"[0-9A-F]{6}")
_PIN = re.compile(r"[0-9A-F]{16}")


def terminal_id(text: str) -> str:
    """DE41 as the switch keys terminals: padded with spaces to 8 characters."""
    return text.ljust(8)


def _field(req: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = req.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AdminError(f"{name}: not a value the HSM returns ({pattern.pattern})")
    return value


def security_command(state: State, req: dict[str, Any], now: dt.datetime) -> E.Entry:
    """Apply one key/PIN command to the state; returns the entry that makes it durable."""
    cmd = req.get("cmd")
    cfg = state.config.switch
    day = business_day(now, cfg.zone, cfg.business_day_cutover)
    if cmd in ("set-tmk", "set-bdk"):
        tid = terminal_id(str(req.get("tid", "")))
        term = state.terminals.get(tid)
        if term is None:
            raise AdminError(f"unknown terminal {tid.rstrip()!r} (not in the configuration)")
        key = _field(req, "key", _KEY)
        kcv = _field(req, "kcv", _KCV)
        name = "tmk" if cmd == "set-tmk" else "bdk"
        if name == "tmk":
            term.tmk_ref = key
        else:
            term.bdk_ref = key
        return E.Entry(
            id=state.new_journal_id(), at=now, business_day=day, kind=E.NETWORK, mti="",
            terminal_id=tid, store_id=term.store, response_code="00",
            detail={"action": cmd, SECURITY: {"terminal_keys": {name: key, f"{name}_kcv": kcv}}},
        )
    if cmd in ("set-pin", "pin-reset"):
        pan = str(req.get("pan", ""))
        if not luhn_ok(pan):
            raise AdminError("not a Luhn-valid card number of 13-19 digits")
        card = state.cards.get(pan)
        if card is None:
            raise AdminError("card is not enrolled")
        pin: dict[str, Any] = {"tries": 0}
        if cmd == "set-pin":
            card.pin_ref = pin["pin"] = _field(req, "pin", _PIN)
        elif card.pin_ref is None:
            raise AdminError("card has no PIN to reset")
        card.pin_tries = 0
        return E.Entry(
            id=state.new_journal_id(), at=now, business_day=day, kind=E.CARD_ADMIN, mti="",
            pan=pan, coalition_id=card.coalition, response_code="00",
            detail={"action": cmd, SECURITY: {"card_pin": pin}},
        )
    raise AdminError(f"unknown security command {cmd!r}")
