"""Builders for the customer-account tests: a configuration whose coalition takes mobile
numbers (docs/customers.md, "Mobile numbers at the POS"), a running switch, requests by DE48 MB.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from tests.engines import query
from tests.switch.support import request
from tests.switch.test_crash import write_config

VIRTUAL_BIN = "639999"
NOW = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.UTC)


def lps(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`lps ARGV` in this process: its exit code, stdout and stderr."""
    from lps.cli import main as lps_main

    try:
        code = lps_main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def enroll_customers(capsys: pytest.CaptureFixture[str], cfg: str, pans: tuple[str, ...],
                     mobiles: str) -> None:
    """A customer per card (`lps cards enroll`, then `lps customers enroll`), named
    `مشتری i`, mobile `mobiles` + i, accounts 1, 2, ... in order."""
    for i, pan in enumerate(pans):
        assert lps(capsys, "cards", "enroll", pan, "-c", cfg)[0] == 0
        code, _out, err = lps(capsys, "customers", "enroll", "-c", cfg, "--name", f"مشتری {i}",
                              "--mobile", f"{mobiles}{i}", "--card", pan)
        assert code == 0, err


def customer_with_cards(capsys: pytest.CaptureFixture[str], cfg: str, pans: tuple[str, ...],
                        mobile: str, name: str, birth_date: str) -> None:
    """Each card enrolled (`lps cards enroll`), then one customer holding them all, born on
    `birth_date` (`lps customers enroll`)."""
    for pan in pans:
        assert lps(capsys, "cards", "enroll", pan, "-c", cfg)[0] == 0
    holds = [arg for pan in pans for arg in ("--card", pan)]
    code, _out, err = lps(capsys, "customers", "enroll", "-c", cfg, "--name", name,
                          "--mobile", mobile, "--birth-date", birth_date, *holds)
    assert code == 0, err


def three_customers(capsys: pytest.CaptureFixture[str], cfg: str, first: int, mobiles: str,
                    now: dt.datetime) -> tuple[str, str, str]:
    """A newcomer and an old-timer (joined 400 days before `now`, never back), accounts 1 and
    2, and a stranger's card of no account: cards `first`, `first` + 1, `first` + 2."""
    from switch.config import load_config
    from tests.switch.support import card

    newcomer, old_timer, stranger = card(first), card(first + 1), card(first + 2)
    assert lps(capsys, "cards", "enroll", stranger, "-c", cfg)[0] == 0
    enroll_customers(capsys, cfg, (newcomer, old_timer), mobiles)
    backdate(load_config(cfg).switch.journal, {2: now - dt.timedelta(days=400)})
    return newcomer, old_timer, stranger


def backdate(journal: str | Path, joined: dict[int, dt.datetime]) -> None:
    """Make accounts older: their `created_at` set straight in the database."""
    from switch.journal import open_customers

    customers = open_customers(journal)
    try:
        with customers.transaction():
            for account, at in joined.items():
                customers.conn.execute(  # type: ignore[attr-defined]
                    "UPDATE accounts SET created_at = ? WHERE id = ?", (at.isoformat(), account))
    finally:
        customers.close()


def mobile_config(tmp: Path, *, enroll: bool = True, journal: dict[str, Any] | None = None
                  ) -> tuple[Path, int]:
    """The example configuration on a free port (its coalition takes DE48 MB, virtual cards
    in `VIRTUAL_BIN`), POS enrolment by mobile on or off, its journal the one `journal` names
    (tests/engines.py; default: SQLite in `tmp`)."""
    path, port = write_config(tmp, journal)
    text = path.read_text()
    section = text.index("[coalition.tehran-mall.mobile]")
    line = text.index("enroll = true", section)
    assert f'virtual_bin = "{VIRTUAL_BIN}"' in text[section:line]
    path.write_text(text[:line] + f"enroll = {'true' if enroll else 'false'}"
                    + text[line + len("enroll = true"):])
    return path, port


def by_mobile(mti: str, tid: str, stan: int, mobile: str, pc: str, amount: int | None = None,
              **kw: Any) -> Message:
    """A request naming the customer by DE48 MB instead of DE2/DE35."""
    tags = {"MB": mobile, **kw.pop("tags", {})}
    return request(mti, tid, stan, pc=pc, amount=amount, tags=tags, **kw)


def virtual_cards(journal: str | Path) -> list[tuple[str, int]]:
    """(card, account) of every virtual card, read straight from the database (either
    engine's)."""
    return [(str(r[0]), int(r[1])) for r in query(
        journal, "SELECT pan, account_id FROM account_cards WHERE virtual = TRUE ORDER BY pan")]


def run_through_switch(config_path: Path, messages: list[Message], now: dt.datetime
                       ) -> list[Message]:
    """The requests decided by the switch's own path on its journal (load, handle with the
    journal's fetch, append), as `lps cards` does when no switch runs: the replies."""
    from switch.config import load_config
    from switch.core import handle
    from switch.core.programs.rules import program_rules
    from switch.journal import open_journal
    from tests.switch.support import T1, T2, T3, sign_on

    config = load_config(config_path)
    journal = open_journal(config.switch.journal)
    try:
        state = journal.load(config, program_rules(config), now)
        replies = []
        for i, msg in enumerate([sign_on(t, 990000 + n, now=now)
                                 for n, t in enumerate((T1, T2, T3))] + messages):
            decision = handle(state, msg, now, fetch=journal.fetch)
            journal.append(decision.entries)
            if i >= 3:
                assert decision.response is not None
                replies.append(decision.response)
        return replies
    finally:
        journal.close()
