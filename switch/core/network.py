"""0800 network management (docs/protocol.md §4, §6): `001` sign-on, `002` sign-off, `301`
echo, `101` key exchange (new session keys the shell had the HSM make under the TMK)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from iso8583.loyalty import build_tlv
from switch.core.codes import RC, Kind
from switch.core.entries import TerminalRow
from switch.core.facts import Facts
from switch.core.model import TerminalState
from switch.core.outcome import Changes, Decision, answer_only, new_entry, respond
from switch.core.request import Request
from switch.core.security import SECURITY
from switch.core.state import State


def decide(state: State, req: Request, facts: Facts, now: dt.datetime,
           day: dt.date) -> Decision:
    term = state.terminals.get(req.tid)
    if term is None:
        return answer_only(req, RC.UNKNOWN_TERMINAL, f"unknown terminal {req.tid!r}")
    code = req.network_code
    if code in ("001", "002"):
        after = dataclasses.replace(term, signed_on=code == "001")
        jid = state.next_journal_id
        entry = new_entry(req, Kind.NETWORK, jid, now, day, store_id=term.store)
        entry.terminal = TerminalRow(term.id, term.store, after.signed_on)
        resp = respond(req, RC.APPROVED, None)
        entry.response_code = RC.APPROVED
        entry.response = resp
        entry.detail = {"network": code}
        return Decision(resp, [entry], changes=Changes(journal_id=jid, terminal=after))
    if code == "301":
        return answer_only(req, RC.APPROVED)
    if code == "101":
        return key_exchange(state, req, facts, term, now, day)
    return answer_only(req, RC.INVALID_TRANSACTION, f"network code {code!r} not supported")


def key_exchange(state: State, req: Request, facts: Facts, term: TerminalState,
                 now: dt.datetime, day: dt.date) -> Decision:
    """0800/101: install the session keys the HSM made under the terminal's TMK.

    The keys under the LMK replace the terminal's (durably, with the 0810); the terminal gets
    them under its TMK with their check values in DE48 MK/MV and PK/PV.
    """
    if term.tmk_ref is None:
        return answer_only(req, RC.NOT_PERMITTED_TERMINAL,
                           "no terminal master key (lps keys new-terminal)")
    keys = facts.checks.session_keys
    if keys is None:
        return answer_only(req, RC.SYSTEM_ERROR, "the HSM made no session keys")
    after = dataclasses.replace(term, mac_key_ref=keys.mac_lmk, pin_key_ref=keys.pin_lmk)
    jid = state.next_journal_id
    entry = new_entry(req, Kind.NETWORK, jid, now, day, store_id=term.store)
    tags = {"MK": keys.mac_tmk, "MV": keys.mac_kcv, "PK": keys.pin_tmk, "PV": keys.pin_kcv}
    resp = respond(req, RC.APPROVED, None, {48: build_tlv(tags)})
    entry.response_code = RC.APPROVED
    entry.response = resp
    entry.detail = {"network": "101", SECURITY: {"terminal_keys": {
        "mac": keys.mac_lmk, "mac_kcv": keys.mac_kcv,
        "pin": keys.pin_lmk, "pin_kcv": keys.pin_kcv}}}
    return Decision(resp, [entry], changes=Changes(journal_id=jid, terminal=after))
