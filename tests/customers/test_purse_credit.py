"""Gift credit to the purse (docs/customers.md "Gift credit to the purse"): the core's decision
keeps the purse's invariants (the entry's `sv` is the new lot, the card's purse grows by it,
nothing changes on a refusal), the credit is spendable at its store and journaled like an
operator's command; the win-back trigger grants it once per absence, across a crash and a
rerun, and its message names it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from switch.config import Config
from switch.core import handle
from switch.core.admin import AdminError, card_command, new_state
from switch.core.ledger import sums
from switch.core.limits import MoneyLimits
from switch.core.model import STORED_VALUE
from switch.core.purse_credit import PURSE_CREDIT, decide_purse_credit, purse_credit_command
from switch.core.state import State
from switch.journal import open_customers
from tests.customers.support import lps
from tests.customers.test_triggers import TEMPLATES, club_config, outbox
from tests.switch.support import NOW, T3, card, example_config, request, sign_on

TICKETS = "STORE0000000003"   # sells stored value (examples/lps.toml), its own purse only
PAN = card(951)


def _state(limits: MoneyLimits | None = None) -> State:
    config = example_config()
    state = new_state(config, limits=limits) if limits else new_state(config)
    card_command(state, "enroll", PAN, NOW)
    return state


def test_a_credit_is_a_purse_lot_of_its_store_and_the_entry_says_so() -> None:
    state = _state()
    before = sums(state.cards[PAN].purse)
    entry = purse_credit_command(state, PAN, 500_000, TICKETS, "club winback gift k", "me",
                                 NOW)
    purse = state.cards[PAN].purse
    assert sums(purse) == (before[0] + 500_000, before[1])
    assert entry.sv == 500_000 and entry.points == 0
    assert entry.detail == {"action": PURSE_CREDIT, "reason": "club winback gift k", "by": "me"}
    assert [(n.kind, n.store, n.initial, n.expires_on) for n in entry.new_lots] == [
        (STORED_VALUE, TICKETS, 500_000, None)]
    assert sum(d.delta for d in entry.lot_deltas) == entry.sv
    # Spendable at its store like a top-up's lot.
    handle(state, sign_on(T3), NOW)
    paid = handle(state, request("0200", T3, 2, pan=PAN, pc="006000", amount=500_000), NOW)
    assert paid.response is not None and paid.response.fields[39] == "00"
    assert sums(state.cards[PAN].purse) == before


@pytest.mark.parametrize(("pan", "amount", "store", "reason", "why"), [
    (PAN[:-1] + str((int(PAN[-1]) + 1) % 10), 1, TICKETS, "r", "Luhn"),
    (PAN, 0, TICKETS, "r", "whole number of rials"),
    (PAN, -5, TICKETS, "r", "whole number of rials"),
    (PAN, True, TICKETS, "r", "whole number of rials"),
    (PAN, 10**12, TICKETS, "r", "whole number of rials"),
    (card(952), 1, TICKETS, "r", "not enrolled"),
    (PAN, 1, "STORE9999999999", "r", "not a store of the card's coalition"),
    (PAN, 1, TICKETS, "  ", "needs a reason"),
])
def test_a_wrong_credit_is_refused_and_changes_nothing(pan: str, amount: int, store: str,
                                                       reason: str, why: str) -> None:
    state = _state()
    card_before = state.cards[PAN]
    ids = (state.next_journal_id, state.next_lot_id)
    with pytest.raises(AdminError, match=why):
        decide_purse_credit(state, pan, amount, store, reason, "me", NOW)
    assert state.cards[PAN] is card_before and (state.next_journal_id, state.next_lot_id) == ids


def test_a_blocked_card_and_a_purse_over_its_limit_get_no_credit() -> None:
    state = _state(dataclasses.replace(MoneyLimits(), max_stored_value=1_000))
    with pytest.raises(AdminError, match="stored value would pass its limit"):
        decide_purse_credit(state, PAN, 1_001, TICKETS, "r", "me", NOW)
    purse_credit_command(state, PAN, 1_000, TICKETS, "r", "me", NOW)
    card_command(state, "block", PAN, NOW)
    with pytest.raises(AdminError, match="blocked"):
        decide_purse_credit(state, PAN, 1, TICKETS, "r", "me", NOW)


GIFT = f"""
[coalition.tehran-mall.triggers.winback]
days = 60
gift = 500_000
store = "{TICKETS}"
"""
GIFT_TEMPLATE = ('[messaging.templates.winback]\nkind = "promotional"\n'
                 'sms = "{name} عزیز، {days} روز است شما را ندیده‌ایم. {credit} شارژ هدیه '
                 'در کیف پول شما."\n')


def _gift_config(tmp: Path, triggers: str = GIFT) -> Config:
    """The triggers' configuration whose win-back template names the credit."""
    start = TEMPLATES.index("[messaging.templates.winback]")
    end = TEMPLATES.index("[messaging.templates.champions_thanks]")
    return club_config(tmp, triggers,
                       templates=TEMPLATES[:start] + GIFT_TEMPLATE + "\n" + TEMPLATES[end:])


def _credits(database: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(database) as conn:
        return [(str(p), int(sv), str(d)) for p, sv, d in conn.execute(
            "SELECT pan, sv, detail FROM journal WHERE kind = 'card_admin' "
            "AND detail LIKE '%purse_credit%' ORDER BY id")]


def test_the_winback_gift_is_credited_once_per_absence_and_named_in_its_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _gift_config(tmp_path)
    assert config.clubs["tehran-mall"].triggers["winback"].gift == 500_000
    pan = card(961)

    def ok(*argv: str) -> str:
        code, out, err = lps(capsys, *argv)
        assert code == 0, err
        return out

    ok("cards", "enroll", pan, "-c", config.path)
    ok("customers", "enroll", "-c", config.path, "--name", "مریم", "--mobile", "09121110061",
       "--card", pan, "--sms", "yes")
    customers = open_customers(config.switch.journal)
    try:
        with customers.transaction():
            customers.conn.execute(  # type: ignore[attr-defined]
                "UPDATE accounts SET created_at = ?",
                (dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat(),))
    finally:
        customers.close()
    day = "2026-11-23"
    out = ok("customers", "nightly", "--day", day, "-c", config.path)
    assert "gift credit granted: 1 (500,000 rials to purses)" in out
    key = "winback:1:never"
    assert [(p, sv) for p, sv, _d in _credits(config.switch.database)] == [(pan, 500_000)]
    assert f"club winback gift {key}:gift" in _credits(config.switch.database)[0][2]
    [(template, dedupe, params)] = outbox(config)
    assert (template, dedupe) == ("winback", f"{key}:sms")
    assert params["credit"] == 500_000 and params["days"] == 326
    # A crash after the switch credited and before the job marked it: found by its reason.
    with sqlite3.connect(config.switch.database) as conn:
        conn.execute("UPDATE club_bonuses SET state = 'pending', journal_id = NULL")
        conn.execute("DELETE FROM outbox")
    out = ok("customers", "nightly", "--day", day, "-c", config.path)
    assert "gift credit granted" not in out
    assert len(_credits(config.switch.database)) == 1 and len(outbox(config)) == 1
    # The next day: the same absence, nothing new.
    ok("customers", "nightly", "--day", "2026-11-24", "-c", config.path)
    assert len(_credits(config.switch.database)) == 1 and len(outbox(config)) == 1
    show = ok("customers", "show", "1", "-c", config.path)
    assert "500,000 rials of gift credit to the purse" in show
    ok("check", "-c", config.path)


@pytest.mark.parametrize(("triggers", "key", "why"), [
    ("[coalition.tehran-mall.triggers.winback]\ngift = 5\n",
     "coalition.tehran-mall.triggers.winback.store", "gift credit needs the store"),
    (f"[coalition.tehran-mall.triggers.winback]\ngift = -5\nstore = \"{TICKETS}\"\n",
     "coalition.tehran-mall.triggers.winback.gift", "at least 0"),
    (f"[coalition.tehran-mall.triggers.winback]\ngift = 10_000_000_000_000\n"
     f"store = \"{TICKETS}\"\n", "coalition.tehran-mall.triggers.winback.gift", "at most"),
    (f"[coalition.tehran-mall.triggers.winback]\ngift = 5\nstore = \"{TICKETS}\"\n"
     "template = \"expiring\"\n", "coalition.tehran-mall.triggers.winback.template",
     "names expiry_date, points"),
    (f"[coalition.tehran-mall.triggers.winback]\ngift = 5\nstore = \"{TICKETS}\"\n"
     "template = \"champions_thanks\"\n", "coalition.tehran-mall.triggers.winback.template",
     "does not name {credit}"),
    (f"[coalition.tehran-mall.triggers.welcome]\ngift = 5\nstore = \"{TICKETS}\"\n",
     "coalition.tehran-mall.triggers.welcome.gift", "unknown key"),
])
def test_a_wrong_gift_stops_the_load(tmp_path: Path, triggers: str, key: str, why: str) -> None:
    from switch.config import ConfigError

    with pytest.raises(ConfigError) as err:
        _gift_config(tmp_path, triggers)
    assert err.value.key == key and why in err.value.reason, (err.value.key, err.value.reason)

