"""A mobile number at the POS (docs/protocol.md §2-§3, docs/customers.md "Mobile numbers at
the POS"): DE48 MB in place of DE2/DE35, through the real `lps serve` process."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path
from typing import Any

from iso8583 import Message
from lps.cli import main as lps_main
from switch.client import TerminalClient
from switch.core.luhn import luhn_ok
from tests.customers.support import VIRTUAL_BIN, by_mobile, mobile_config, virtual_cards
from tests.programs.support import points_balance, tags
from tests.switch.support import T1, T2, card, earn, request
from tests.switch.test_crash import start
from tests.waits import EVENT


async def _exchange(port: int, messages: list[Message]) -> list[Message]:
    c = await TerminalClient("ascii", "127.0.0.1", port).connect()
    try:
        out = []
        for tid in (T1, T2):
            r = await c.send(request("0800", tid, 990000 + len(tid), extra={70: "001"}))
            assert r.fields[39] == "00"
        for m in messages:
            out.append(await c.send(m))
        return out
    finally:
        await c.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_mobile_number_earns_and_spends_on_one_virtual_card(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """On both engines: the account made in the group commit, its virtual card found again by
    recovery after a restart, the next number's card the next serial."""
    config, port = mobile_config(tmp_path, journal=journal_settings)
    db: str | Path = journal_settings.get("journal_url") or journal_settings["database"]
    proc = start(config, port)
    try:
        r = asyncio.run(_exchange(port, [
            by_mobile("0200", T1, 1, "09121234567", "000000", 100_000, now=_now()),
            # The same number in its other forms is the same account.
            by_mobile("0200", T2, 2, "+989121234567", "000000", 100_000, now=_now()),
            by_mobile("0200", T1, 3, "989121234567", "310000", now=_now()),
            by_mobile("0200", T1, 4, "9121234567", "900000", 5, now=_now()),
        ]))
        assert [m.fields[39] for m in r] == ["00", "00", "00", "00"]
        earned = int(tags(r[0])["EP"]) + int(tags(r[1])["EP"])
        assert int(tags(r[0])["EP"]) > 0
        assert points_balance(r[2]) == earned
        left = points_balance(r[3])
        assert 0 <= left < earned
        # The virtual card is never sent back: the replies echo what the request carried.
        assert all(2 not in m.fields and 35 not in m.fields for m in r)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    cards = virtual_cards(db)
    assert len(cards) == 1
    pan = cards[0][0]
    assert pan.startswith(VIRTUAL_BIN) and len(pan) == 16 and luhn_ok(pan)

    proc = start(config, port)   # the account and its card come back from the database
    try:
        r = asyncio.run(_exchange(port, [
            by_mobile("0200", T1, 5, "00989121234567", "310000", now=_now()),
            by_mobile("0200", T1, 6, "09351112222", "000000", 20_000, now=_now()),
            # A virtual card is never reached by its number.
            earn(T1, 7, pan, 10_000, now=_now()),
        ]))
        assert [m.fields[39] for m in r] == ["00", "00", "14"]
        assert points_balance(r[0]) == left
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert [a for _, a in virtual_cards(db)] == sorted({a for _, a in virtual_cards(db)})
    assert len(virtual_cards(db)) == 2


def test_bad_mobile_numbers_and_mixed_card_fields_are_format_errors(tmp_path: Path) -> None:
    config, port = mobile_config(tmp_path)
    proc = start(config, port)
    try:
        r = asyncio.run(_exchange(port, [
            by_mobile("0200", T1, 1, "0912abc4567", "000000", 1_000, now=_now()),
            by_mobile("0200", T1, 2, "۰۹۱۲۱۲۳۴۵۶۷", "000000", 1_000, now=_now()),
            by_mobile("0200", T1, 3, "02112345678", "000000", 1_000, now=_now()),
            request("0200", T1, 4, pan=card(41), pc="000000", amount=1_000,
                    tags={"MB": "09121234567"}, now=_now()),
            request("0200", T1, 5, pc="000000", amount=1_000, now=_now()),
        ]))
        assert [m.fields[39] for m in r] == ["30"] * 5
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert virtual_cards(tmp_path / "lps.db") == []


def test_without_pos_enrolment_only_a_known_number_is_an_account(tmp_path: Path) -> None:
    config, port = mobile_config(tmp_path, enroll=False)
    db = tmp_path / "lps.db"
    printed = card(42)
    assert lps_main(["cards", "enroll", printed, "--config", str(config), "--name", "ندا احمدی",
                     "--phone", "۰۹۱۲۱۲۳۴۵۶۷"]) == 0
    proc = start(config, port)
    try:
        r = asyncio.run(_exchange(port, [
            earn(T1, 1, printed, 100_000, now=_now()),
            by_mobile("0200", T1, 2, "09351112222", "000000", 100_000, now=_now()),
            by_mobile("0200", T1, 3, "09121234567", "000000", 100_000, now=_now()),
            request("0200", T1, 4, pan=printed, pc="310000", now=_now()),
            by_mobile("0200", T1, 5, "09121234567", "310000", now=_now()),
        ]))
        assert [m.fields[39] for m in r] == ["00", "14", "00", "00", "00"]
        # Each card keeps its own lots: the account's balance is their sum (docs/customers.md).
        assert points_balance(r[3]) == int(tags(r[0])["EP"])
        assert points_balance(r[4]) == int(tags(r[2])["EP"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    cards = virtual_cards(db)
    assert len(cards) == 1


def test_a_customer_enrolled_at_the_desk_while_the_switch_runs_gets_the_birthday_bonus(
        tmp_path: Path) -> None:
    import jdatetime

    config, port = mobile_config(tmp_path, enroll=False)
    pan = card(43)
    today = dt.datetime.now(dt.UTC).date()
    birth = today.replace(year=1991) if not (today.month == 2 and today.day == 29) \
        else dt.date(1991, 2, 28)
    jalali = jdatetime.date.fromgregorian(date=birth).strftime("%Y/%m/%d")
    proc = start(config, port)
    try:
        # The card is enrolled through the running switch's admin socket, the account written
        # by the desk, and the switch told to load the card's profile at once.
        assert lps_main(["customers", "enroll", "--config", str(config), "--name", "رضا رضایی",
                         "--mobile", "09351112222", "--birth-date", jalali, "--card", pan]) == 0
        r = asyncio.run(_exchange(port, [
            earn(T1, 1, pan, 100_000, now=_now()),
            earn(T1, 2, pan, 100_000, now=_now()),
            # The account's mobile number reaches the same customer on a virtual card.
            by_mobile("0200", T1, 3, "+989351112222", "000000", 100_000, now=_now()),
        ]))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert [m.fields[39] for m in r] == ["00", "00", "00"]
    first, second = int(tags(r[0])["EP"]), int(tags(r[1])["EP"])
    assert first == second + 50   # [store.STORE0000000001] birthday_bonus = 50, once
    assert int(tags(r[2])["EP"]) == second   # once per customer: not again on the virtual card
    assert len(virtual_cards(tmp_path / "lps.db")) == 1


def test_a_reversal_by_mobile_undoes_its_earn(tmp_path: Path) -> None:
    config, port = mobile_config(tmp_path)
    proc = start(config, port)
    try:
        original = by_mobile("0200", T1, 1, "09121234567", "000000", 100_000, now=_now())
        rev = by_mobile("0400", T1, 2, "09121234567", "000000", 100_000, now=_now(),
                        batch=None, extra={90: _de90(original)})
        r = asyncio.run(_exchange(port, [
            original, rev,
            by_mobile("0200", T1, 3, "09121234567", "310000", now=_now()),
        ]))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert [m.fields[39] for m in r] == ["00", "00", "00"]
    assert int(tags(r[0])["EP"]) > 0 and points_balance(r[2]) == 0


def _de90(original: Message) -> str:
    from iso8583.loyalty import OriginalData, build_de90

    return build_de90(OriginalData(original.mti, original.text(11), original.text(7)))


def test_a_coupon_is_redeemed_with_a_card_not_a_mobile_number(tmp_path: Path) -> None:
    from tests.customers.support import run_through_switch

    config, _ = mobile_config(tmp_path)
    now = _now()
    r = run_through_switch(config, [
        by_mobile("0200", T1, 1, "09121234567", "000000", 100_000, now=now),
        by_mobile("0200", T1, 2, "09121234567", "900000", 1_000, now=now,
                  tags={"CP": "ABCD-EFGH-JKMN-PQRS"}),
    ], now)
    assert [m.fields[39] for m in r] == ["00", "57"]
