"""The group commit's receipt SMS (docs/messaging.md, "Receipts", "In the same transaction").

The writer asks the receipts hook for each decision's entries right after `apply` and hands the
batch's receipts to `SqlJournal.append` with its entries; in the batch's one transaction, after
the journal rows, the journal reads each card's account and writes one `transactional` outbox
row per receipt, `dedupe_key` `receipt:<journal id>`, for a card whose account has a mobile
that did not turn receipts off. A failed commit leaves neither the rows nor their receipts.
Read back from the journal's public tables (`journal`, `outbox`).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from iso8583 import Message
from switch.core import NO_CHECKS, Checks, Entry, journaled
from switch.core.mobile import normalize_mobile
from switch.core.programs.club import Profile
from switch.journal import Receipt
from switch.journal.errors import JournalError
from switch.messaging.receipts import Receipts
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.switch.support import NOW, STORES, T1, T2, burn, card, earn

ON = STORES[T1]   # the store that sends receipts; T2's does not
NAMED, OPTED_OUT, NO_ACCOUNT = card(721), card(722), card(723)
MOBILE, OTHER = "09121234567", "09351112222"
NAME = "نگار رضایی"


class ReceiptShell(Shell):
    """`Shell` with the writer's receipts hook: asked right after each decision's `apply`
    (switch/writer.py `submit`), its receipts handed to `append` with the batch's entries."""

    def __init__(self, path: Path) -> None:
        self.hook = Receipts({ON}, lambda: self.state, ZoneInfo("Asia/Tehran"))
        self.made: list[Receipt] = []
        super().__init__(path)

    def send(self, msg: Message, now: dt.datetime = NOW, checks: Checks = NO_CHECKS
             ) -> Message:
        if self.pending is None:      # a batch of its own
            with self.group_commit():
                return self.send(msg, now, checks)
        decided = len(self.pending)
        answer = super().send(msg, now, checks)
        self.made += self.hook(self.pending[decided:]) or []
        return answer

    def _commit(self, entries: list[Entry]) -> None:
        made, self.made = self.made, []
        if entries:
            self.store.append(entries, made)
            journaled(self.state, entries)


@pytest.fixture
def rsh() -> Iterator[ReceiptShell]:
    with scratch_dir() as path:
        shell = ReceiptShell(path / "lps.db")
        yield shell
        shell.close()


def execute(path: Path, statement: str, params: tuple[object, ...] = ()) -> None:
    """A write beside the switch (an operator's `lps messages optout`, a trigger)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def outbox(sh: Shell) -> list[dict[str, object]]:
    rows = sh.sql("SELECT channel, recipient, customer_ref, template, params, kind, "
                  "coalition_id, store_id, dedupe_key FROM outbox ORDER BY dedupe_key")
    names = ("channel", "recipient", "customer_ref", "template", "params", "kind",
             "coalition_id", "store_id", "dedupe_key")
    return [dict(zip(names, row, strict=True)) for row in rows]


def enrolled(sh: ReceiptShell) -> dict[str, int]:
    """Three cards enrolled by an earn at the store without receipts; two with an account
    (`lps cards enroll --name --phone`), one of whose mobile turned receipts off."""
    for pan in (NAMED, OPTED_OUT, NO_ACCOUNT):
        assert rc(sh.send(earn(T2, sh.next_stan(), pan, 100_000))) == "00"
    accounts = {NAMED: 0, OPTED_OUT: 0}
    sh.store.put_profile(NAMED, Profile(name=NAME, phone=MOBILE))
    sh.store.put_profile(OPTED_OUT, Profile(phone=OTHER))
    for pan in accounts:
        accounts[pan] = int(str(sh.sql("SELECT account_id FROM account_cards WHERE pan = ?",
                                       (pan,))[0][0]))
    execute(sh.path, "INSERT INTO receipt_optout (address, source, updated_at) "
                     "VALUES (?, 'operator', ?)", (normalize_mobile(OTHER), NOW.isoformat()))
    assert outbox(sh) == []
    return accounts


def test_a_batch_writes_one_receipt_per_approved_row_of_a_card_with_a_mobile(
        rsh: ReceiptShell) -> None:
    """One group commit: an earn of each card at the store that sends receipts, a declined
    redemption, an earn at a store that sends none. Only the named card's earn gets a
    receipt: one outbox row naming the customer (`cust-N`) and the mobile, never the card,
    with the earn's values; the batch's journal rows are all there."""
    accounts = enrolled(rsh)
    before = rsh.journal_points(NAMED)
    with rsh.group_commit():
        mine = rsh.send(earn(T1, rsh.next_stan(), NAMED, 250_000))
        for pan in (OPTED_OUT, NO_ACCOUNT):
            assert rc(rsh.send(earn(T1, rsh.next_stan(), pan, 100_000))) == "00"
        declined = rsh.send(burn(T1, rsh.next_stan(), NAMED, 0, tags={"RP": "100000"}))
        elsewhere = rsh.send(earn(T2, rsh.next_stan(), NAMED, 100_000))
    assert rc(mine) == "00" and rc(declined) == "51" and rc(elsewhere) == "00"
    assert rsh.sql("SELECT COUNT(*) FROM journal WHERE id >= ?", (int(rrn(mine)),)) == [(5,)]
    earned = int(str(rsh.sql("SELECT points FROM journal WHERE id = ?",
                             (int(rrn(mine)),))[0][0]))
    (row,) = outbox(rsh)
    params = json.loads(str(row.pop("params")))
    assert row == {"channel": "sms", "recipient": normalize_mobile(MOBILE),
                   "customer_ref": f"cust-{accounts[NAMED]}", "template": "receipt_earn",
                   "kind": "transactional", "coalition_id": rsh.sql(
                       "SELECT coalition_id FROM cards WHERE pan = ?", (NAMED,))[0][0],
                   "store_id": ON, "dedupe_key": f"receipt:{int(rrn(mine))}"}
    assert (params["name"], params["points"], params["amount"]) == (NAME, earned, 250_000)
    assert params["balance"] == before + earned   # the card as that earn left it
    assert not any(NAMED in str(v) for v in (*row.values(), *params.values()))


def test_a_commit_that_fails_on_its_receipt_writes_none_of_the_batch(
        rsh: ReceiptShell) -> None:
    """"A crash leaves both the money row and its receipt, or neither": when the receipt's
    insert fails, the batch's commit fails (fail-stop, `JournalError`) and none of its journal
    rows is written."""
    enrolled(rsh)
    last = int(str(rsh.sql("SELECT MAX(id) FROM journal")[0][0]))
    execute(rsh.path, "CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                      "BEGIN SELECT RAISE(ABORT, 'outbox refused'); END")
    with pytest.raises(JournalError, match="outbox refused"), rsh.group_commit():
        rsh.send(earn(T1, rsh.next_stan(), NO_ACCOUNT, 100_000))
        rsh.send(earn(T1, rsh.next_stan(), NAMED, 100_000))
    assert rsh.sql("SELECT MAX(id) FROM journal") == [(last,)]
    assert outbox(rsh) == []
