"""The pure side: what the core decides from the shell's `Checks`, the MAC field's placement,
the operator commands, and that the store carries key/PIN state across a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from switch.core import handle, new_state
from switch.core.admin import AdminError
from switch.core.authorizer import NO_CHECKS, Checks, SessionKeyRefs, request_digest
from switch.core.model import Card, txn_key
from switch.core.state import State
from switch.journal.sqlite.journal import SqliteJournal
from switch.security.admin import security_command
from switch.security.shell import mac_field, request_mac
from tests.switch.support import NOW, T1, burn, card, earn, example_config, request, sign_on

PAN = card(3)
KEY = "U" + "0" * 32
KEYS = SessionKeyRefs("U" + "1" * 32, "A" * 32, "AAAAAA", "U" + "2" * 32, "B" * 32, "BBBBBB")


def signed_state(**switch: Any) -> State:
    state = new_state(example_config(**switch))
    assert handle(state, sign_on(T1), NOW).response is not None
    return state


def rc(state: State, msg: Message, checks: Checks = NO_CHECKS) -> str:
    decision = handle(state, msg, NOW, checks)
    assert decision.response is not None
    return str(decision.response.fields[39])


def test_mac_required_once_the_terminal_has_a_key_and_refusals_are_not_remembered() -> None:
    state = signed_state()
    assert rc(state, earn(T1, 1, PAN, 100_000)) == "00"            # no key yet: no MAC needed
    state.terminals[T1].mac_key_ref = KEY
    msg = earn(T1, 2, PAN, 100_000)
    assert rc(state, msg) == "63"                                   # missing
    assert rc(state, msg, Checks(mac_ok=False, mac_present=True)) == "63"
    assert txn_key("T0000001", "000002", msg.text(7)) not in state.txns
    assert rc(state, msg, Checks(mac_present=True)) == "00"         # the genuine one
    assert state.cards[PAN].points == 20


def test_require_mac_and_0800_needs_no_mac() -> None:
    state = signed_state(require_mac=True)
    assert rc(state, earn(T1, 1, PAN, 100_000)) == "63"
    assert rc(state, request("0800", T1, 5, extra={70: "301"})) == "00"
    assert rc(state, earn(T1, 1, PAN, 100_000), Checks(mac_present=True)) == "00"


def test_retransmission_digest_ignores_the_mac_field() -> None:
    a = earn(T1, 1, PAN, 100_000, extra={64: b"\x01" * 8})
    b = earn(T1, 1, PAN, 100_000, extra={64: b"\x02" * 8})
    assert request_digest(a) == request_digest(b)
    assert request_digest(a) != request_digest(earn(T1, 1, PAN, 100_001))


def test_pin_counting_in_the_core() -> None:
    state = signed_state()
    assert rc(state, earn(T1, 1, PAN, 1_000_000)) == "00"
    card_: Card = state.cards[PAN]
    card_.pin_ref = "0" * 16
    block = {52: b"\x00" * 8}
    assert rc(state, burn(T1, 2, PAN, 1_000)) == "55"                          # no DE52
    assert card_.pin_tries == 0
    assert rc(state, burn(T1, 3, PAN, 1_000, extra=block), Checks(pin_ok=False)) == "55"
    assert rc(state, burn(T1, 4, PAN, 1_000, extra=block), Checks(pin_ok=True)) == "00"
    assert card_.pin_tries == 0
    for stan in (5, 6):
        assert rc(state, burn(T1, stan, PAN, 1_000, extra=block), Checks(pin_ok=False)) == "55"
    decision = handle(state, burn(T1, 7, PAN, 1_000, extra=block), NOW, Checks(pin_ok=False))
    assert decision.response is not None and decision.response.fields[39] == "75"
    assert decision.entries[0].detail["security"] == {"card_pin": {"tries": 3}}
    assert rc(state, burn(T1, 8, PAN, 1_000, extra=block), Checks(pin_ok=True)) == "75"
    assert card_.points == 100 - 1
    # Earns need no PIN.
    assert rc(state, earn(T1, 9, PAN, 10_000)) == "00"


def test_key_exchange_decisions() -> None:
    state = signed_state()
    msg = request("0800", T1, 7, extra={70: "101"})
    assert rc(state, msg, Checks(session_keys=KEYS)) == "58"        # no TMK
    state.terminals[T1].tmk_ref = KEY
    assert rc(state, msg) == "96"                                   # the HSM made none
    decision = handle(state, msg, NOW, Checks(session_keys=KEYS))
    assert decision.response is not None
    assert decision.response.fields[48] == "MK032" + "A" * 32 + "MV006AAAAAAPK032" + "B" * 32 \
        + "PV006BBBBBB"
    assert state.terminals[T1].mac_key_ref == KEYS.mac_lmk
    assert state.terminals[T1].pin_key_ref == KEYS.pin_lmk


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, None),
    ({64: b"\x01" * 8}, b"\x01" * 8),
    ({64: b"\x01" * 8, 90: "0" * 42}, b""),        # DE64 is not last behind a secondary bitmap
    ({128: b"\x02" * 8, 90: "0" * 42}, b"\x02" * 8),
    ({64: b"\x01" * 8, 128: b"\x02" * 8}, b""),    # two MAC fields
    ({64: b"\x01" * 4}, b""),
])
def test_request_mac_placement(fields: dict[int, object], expected: bytes | None) -> None:
    msg = earn(T1, 1, PAN, 1_000, extra=fields)
    assert request_mac(msg) == expected
    msg.secondary_bitmap = True  # a secondary bitmap with no field above 64: DE64 misplaced
    assert request_mac(msg) == (b"" if 64 in fields and 128 not in fields else expected)
    assert mac_field(msg) == msg.mac_field == 128
    msg.secondary_bitmap = False
    assert mac_field(msg) == msg.mac_field


def test_security_commands_refuse_bad_input() -> None:
    state = signed_state()
    with pytest.raises(AdminError, match="unknown terminal"):
        security_command(state, {"cmd": "set-tmk", "tid": "NOPE", "key": KEY, "kcv": "ABCDEF"},
                         NOW)
    with pytest.raises(AdminError, match="key: not a value"):
        security_command(state, {"cmd": "set-tmk", "tid": T1, "key": "0123", "kcv": "ABCDEF"},
                         NOW)
    with pytest.raises(AdminError, match="not enrolled"):
        security_command(state, {"cmd": "set-pin", "pan": PAN, "pin": "0" * 16}, NOW)
    assert rc(state, earn(T1, 1, PAN, 10_000)) == "00"
    with pytest.raises(AdminError, match="no PIN to reset"):
        security_command(state, {"cmd": "pin-reset", "pan": PAN}, NOW)
    with pytest.raises(AdminError, match="pin: not a value"):
        security_command(state, {"cmd": "set-pin", "pan": PAN, "pin": "1234"}, NOW)


def test_store_keeps_keys_and_pin_tries_across_restart(tmp_path: Path) -> None:
    cfg = example_config(tmp_path / "lps.db")
    store = SqliteJournal(cfg.switch.database)
    state = store.load(cfg, None, NOW)
    entries = [e for m in (sign_on(T1), earn(T1, 1, PAN, 500_000))
               for e in handle(state, m, NOW).entries]
    entries.append(security_command(state, {"cmd": "set-tmk", "tid": T1, "key": KEY,
                                            "kcv": "ABCDEF"}, NOW))
    entries += handle(state, request("0800", T1, 2, extra={70: "101"}), NOW,
                      Checks(session_keys=KEYS)).entries
    entries.append(security_command(state, {"cmd": "set-pin", "pan": PAN, "pin": "F" * 16},
                                    NOW))
    entries += handle(state, burn(T1, 3, PAN, 1_000, extra={52: b"\0" * 8}), NOW,
                      Checks(mac_present=True, pin_ok=False)).entries
    store.append(entries)
    store.close()
    store = SqliteJournal(cfg.switch.database)
    again = store.load(cfg, None, NOW + dt.timedelta(minutes=1))
    term = again.terminals[T1]
    assert (term.tmk_ref, term.mac_key_ref, term.pin_key_ref) == (KEY, KEYS.mac_lmk,
                                                                  KEYS.pin_lmk)
    assert (again.cards[PAN].pin_ref, again.cards[PAN].pin_tries) == ("F" * 16, 1)
    assert store.security_rows() == 2
    # The journal keeps check values and try counts, not the wrapped keys or PIN.
    details = " ".join(str(r[0]) for r in store.conn.execute(
        "SELECT detail FROM journal WHERE detail IS NOT NULL"))
    assert KEYS.mac_lmk not in details and KEY not in details and "F" * 16 not in details
    assert "AAAAAA" in details and '"tries":1' in details
    store.close()


def test_a_verdict_about_a_replaced_pin_is_not_used() -> None:
    state = signed_state()
    assert rc(state, earn(T1, 1, PAN, 1_000_000)) == "00"
    state.cards[PAN].pin_ref = "NEW" + "0" * 13
    block = {52: b"\x00" * 8}
    old = "OLD" + "0" * 13
    assert rc(state, burn(T1, 2, PAN, 1_000, extra=block), Checks(pin_ok=True, pin_ref=old)) \
        == "55"
    assert rc(state, burn(T1, 3, PAN, 1_000, extra=block), Checks(pin_ok=False, pin_ref=old)) \
        == "55"
    assert state.cards[PAN].pin_tries == 0
    new = state.cards[PAN].pin_ref
    assert rc(state, burn(T1, 4, PAN, 1_000, extra=block), Checks(pin_ok=True, pin_ref=new)) \
        == "00"
