"""Operator commands on keys and PINs, as journal entries (pure: the HSM was asked before).

`lps keys new-terminal`, `lps keys load-bdk`, `lps pin set`, `lps pin reset` reach these
through the running switch's admin socket, or directly on the store when it is stopped, so
the cache and the journal stay one. They receive only what the HSM returned: keys and PINs
under the LMK, and check values. Like every change of the state they are decided first
(`decide_security_command`) and applied after (`switch.core.apply`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from switch.core import entries as E
from switch.core.admin import AdminError, admin_entry
from switch.core.apply import apply
from switch.core.codes import Kind
from switch.core.luhn import luhn_ok
from switch.core.outcome import Changes, Decision
from switch.core.security import SECURITY
from switch.core.state import State

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


def decide_security_command(state: State, req: dict[str, Any], now: dt.datetime) -> Decision:
    """One key/PIN command as a decision: the entry that makes it durable and the changes
    `apply` makes (`AdminError`, nothing changed, when it cannot be carried out)."""
    cmd = req.get("cmd")
    if cmd in ("set-tmk", "set-bdk"):
        tid = terminal_id(str(req.get("tid", "")))
        term = state.terminals.get(tid)
        if term is None:
            raise AdminError(f"unknown terminal {tid.rstrip()!r} (not in the configuration)")
        key = _field(req, "key", _KEY)
        kcv = _field(req, "kcv", _KCV)
        name = "tmk" if cmd == "set-tmk" else "bdk"
        after = dataclasses.replace(term, tmk_ref=key) if name == "tmk" \
            else dataclasses.replace(term, bdk_ref=key)
        entry = admin_entry(
            state, now, {"action": cmd, SECURITY: {"terminal_keys": {name: key,
                                                                     f"{name}_kcv": kcv}}},
            kind=Kind.NETWORK, terminal_id=tid, store_id=term.store)
        return Decision(None, [entry], changes=Changes(journal_id=entry.id, terminal=after))
    if cmd in ("set-pin", "pin-reset"):
        pan = str(req.get("pan", ""))
        if not luhn_ok(pan):
            raise AdminError("not a Luhn-valid card number of 13-19 digits")
        card = state.cards.get(pan)
        if card is None:
            raise AdminError("card is not enrolled")
        pin: dict[str, Any] = {"tries": 0}
        pin_ref = card.pin_ref
        if cmd == "set-pin":
            pin_ref = pin["pin"] = _field(req, "pin", _PIN)
        elif card.pin_ref is None:
            raise AdminError("card has no PIN to reset")
        card_after = dataclasses.replace(card, pin_ref=pin_ref, pin_tries=0)
        entry = admin_entry(state, now, {"action": cmd, SECURITY: {"card_pin": pin}},
                            pan=pan, coalition_id=card.coalition)
        return Decision(None, [entry], changes=Changes(journal_id=entry.id, card=card_after))
    raise AdminError(f"unknown security command {cmd!r}")


def security_command(state: State, req: dict[str, Any], now: dt.datetime) -> E.Entry:
    """Decide and apply one key/PIN command; the entry that makes it durable."""
    decision = decide_security_command(state, req, now)
    apply(state, decision)
    return decision.entries[0]
