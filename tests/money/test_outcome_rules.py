"""What an answer carries when nothing is decided (docs/switch.md "The request path", "The
journal"; docs/protocol.md §4-§5): a `96` when the journal cannot be read, a reject's journal
row."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import load_profile
from switch.core import Checks, MoneyLimits, Needs
from switch.core.facts import Facts
from tests.customers.support import by_mobile
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.switch.support import NOW, T1, batch_close, card, earn, request

A = card(811)
#: A TPDU (docs/protocol.md §1): id 0x60, destination NII 0x0001, source NII 0x0002.
TPDU = bytes.fromhex("6000010002")


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def unreadable(needs: Needs, checks: Checks) -> Facts:
    """The journal's read failing (a disk error): the shell answers `96`."""
    raise OSError("disk I/O error")


def test_a_96_echoes_de7_de11_de41_only_and_changes_nothing(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/switch.md "The request path": an exception while deciding answers `96` with DE7,
    DE11 and DE41 echoed (and the TPDU's NIIs exchanged, docs/protocol.md §1); nothing is
    journaled, nothing changes, so the card is not enrolled."""
    sh = Shell(db)
    rows = sh.sql("SELECT COUNT(*) FROM journal")
    monkeypatch.setattr(sh.store, "fetch", unreadable)
    msg = earn(T1, sh.next_stan(), A, 100_000, tpdu=TPDU)
    resp = sh.send(msg)
    assert resp.mti == "0210"
    assert resp.fields == {7: msg.fields[7], 11: msg.fields[11], 39: "96", 41: T1}
    assert resp.tpdu == bytes.fromhex("6000020001")
    assert sh.sql("SELECT COUNT(*) FROM journal") == rows
    assert sh.sql("SELECT COUNT(*) FROM cards") == [(0,)]
    sh.close()


def test_a_96_leaves_out_a_field_that_breaks_its_format(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/protocol.md §5: a field that breaks its format is not echoed, so that the answer
    can be sent; DE7 is `n 10` (MMDDhhmmss), eleven digits are not echoed."""
    sh = Shell(db)
    monkeypatch.setattr(sh.store, "fetch", unreadable)
    msg = earn(T1, sh.next_stan(), A, 100_000, extra={7: "11231000000"})
    resp = sh.send(msg)
    assert resp.fields == {11: msg.fields[11], 39: "96", 41: T1}
    sh.close()


def test_a_rejects_journal_row_holds_the_answer_it_sent(db: Path) -> None:
    """docs/switch.md "The journal": every row holds `response_code` (DE39 sent), `response`
    (the response message as JSON), its `rrn` (DE37 sent) and where it came from (`store_id`:
    DE42 without padding), a reject's too (an unsupported processing code, `12`,
    docs/protocol.md §4)."""
    sh = Shell(db)
    resp = sh.send(request("0200", T1, sh.next_stan(), pan=A, pc="123456", amount=1_000))
    assert rc(resp) == "12"
    (code, sent, number, store, coalition), = sh.sql(
        "SELECT response_code, response, rrn, store_id, coalition_id FROM journal WHERE id = ?",
        (int(rrn(resp)),))
    assert (code, number, store) == ("12", rrn(resp), "STORE0000000001")  # DE42, unpadded
    assert coalition in ("", None, "tehran-mall")
    answer = json.loads(str(sent))
    assert answer["mti"] == "0210"
    assert answer["fields"]["39"] == "12" and answer["fields"]["37"] == rrn(resp)
    sh.close()


def test_a_batch_counts_exactly_its_largest_count(db: Path) -> None:
    """docs/protocol.md §10: a terminal batch counts at most `max_batch_count` credits; the
    credit that reaches it is approved, the one after it `61` and not counted."""
    sh = Shell(db, limits=MoneyLimits(max_batch_count=2))
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 10_000))) == "00"
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 10_000))) == "00"       # the second: 2
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 10_000))) == "61"
    assert sh.sql("SELECT credits, credit_amount FROM batch_totals") == [(2, 20_000)]
    sh.close()


def test_an_approval_code_is_six_characters_at_journal_id_one_million(db: Path) -> None:
    """docs/protocol.md §2: DE38 is `an 6` on every approval, whatever the journal id (here
    1,000,000: a journal whose last row is 999,999, a sign-on copied there)."""
    Shell(db).close()
    conn = sqlite3.connect(db)
    with conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(journal)") if r[1] != "id"]
        names = ", ".join(columns)
        conn.execute(f"INSERT INTO journal (id, {names}) SELECT 999999, {names} FROM journal "
                     "WHERE id = 3")
        conn.execute("UPDATE journal SET stan = '999999', rrn = '000000999999' "
                     "WHERE id = 999999")
    conn.close()
    sh = Shell(db, sign_on_terminals=False)
    resp = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    assert (rc(resp), rrn(resp)) == ("00", "000001000000")
    assert len(str(resp.fields[38])) == 6
    sh.close()


def test_a_first_use_earn_past_the_points_limit_is_61_and_keeps_the_enrolment(db: Path) -> None:
    """docs/protocol.md §10: an earn that would take a card past `max_points` is `61` and
    credits nothing; the card it used first is enrolled all the same (docs/switch.md, Card),
    in memory as in the journal (the restart compares them)."""
    sh = Shell(db, limits=MoneyLimits(max_points=10))
    newcomer = card(812)
    assert rc(sh.send(earn(T1, sh.next_stan(), newcomer, 1_000_000))) == "61"   # 100 points
    assert sh.sql("SELECT status FROM cards WHERE pan = ?", (newcomer,)) == [("active",)]
    assert sh.sql("SELECT COUNT(*) FROM lots") == [(0,)]
    sh.restart(NOW)
    assert sh.sql("SELECT pan FROM cards") == [(newcomer,)]
    sh.close()


def test_two_purchases_by_a_new_mobile_number_in_one_commit_make_one_virtual_card(
        db: Path) -> None:
    """docs/customers.md "Mobile numbers at the POS": a number no account holds gets one
    account and its virtual card at its first use; a second purchase by that number decided
    before the first is committed (one group commit, as the writer's batch) is that card's."""
    sh = Shell(db)
    with sh.group_commit():
        first = sh.send(by_mobile("0200", T1, sh.next_stan(), "09351234567", "000000", 100_000))
        second = sh.send(by_mobile("0200", T1, sh.next_stan(), "09351234567", "000000",
                                   100_000))
    assert (rc(first), rc(second)) == ("00", "00")
    assert sh.sql("SELECT COUNT(*), COUNT(DISTINCT account_id) FROM account_cards "
                  "WHERE virtual = 1") == [(1, 1)]
    assert sh.sql("SELECT COUNT(*) FROM cards") == [(1,)]
    sh.close()


def test_answers_exchange_the_tpdus_niis_and_only_financial_ones_carry_de37(db: Path) -> None:
    """docs/protocol.md §1: a reply's TPDU has the request's destination and source NIIs
    exchanged; §4 ("Responses"): DE37 is added to the answers of financial messages (0200,
    0220, 0400, 0420), so a 0500's answer has none."""
    sh = Shell(db)
    sh.profile = load_profile("bcd")  # the profile whose frames carry a TPDU
    bought = sh.send(earn(T1, sh.next_stan(), A, 100_000, tpdu=TPDU))
    assert (rc(bought), bought.tpdu) == ("00", bytes.fromhex("6000020001"))
    assert 37 in bought.fields
    sh.profile = load_profile("ascii")
    closed = sh.send(batch_close(T1, sh.next_stan(), "000001", {74: 1, 86: 100_000}))
    assert (closed.mti, rc(closed)) == ("0510", "00") and 37 not in closed.fields
    sh.close()
