"""The core over a real journal (the configured engine: SQLite, or PostgreSQL with
`journal_url`), as the shell runs it, and a restart that must give back exactly the state it
had (docs/switch.md, "Comparing states")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from iso8583 import Message
from switch.config import Config
from switch.core import (
    DEFAULT_LIMITS,
    NO_CHECKS,
    Checks,
    Decision,
    MoneyLimits,
    RuleBook,
    handle,
    journaled,
    snapshot,
)
from switch.core.calendar import business_day
from switch.journal.engine import open_journal
from switch.journal.sql.verify import check_invariants
from switch.journal.sqlite.journal import SqliteJournal
from tests.engines import raw
from tests.switch.support import NOW, example_config


class Journaled:
    """`handle` with the store's `fetch`; each decision committed, then marked journaled."""

    def __init__(self, tmp: Path, cfg: Config | None = None, rules: RuleBook | None = None,
                 limits: MoneyLimits = DEFAULT_LIMITS) -> None:
        self.cfg = cfg or example_config(tmp / "lps.db")
        self.rules = rules
        self.limits = limits
        self.store = open_journal(self.cfg.switch.journal)
        self.state = self.store.load(self.cfg, rules, NOW)
        self.state.limits = limits

    @property
    def sqlite(self) -> SqliteJournal:
        """The store, for a test on an SQLite file that reads it through the journal's own
        connection (`conn`)."""
        assert isinstance(self.store, SqliteJournal)
        return self.store

    def send(self, msg: Message, now: dt.datetime = NOW, checks: Checks = NO_CHECKS
             ) -> Decision:
        decision = handle(self.state, msg, now, checks, fetch=self.store.fetch)
        if decision.entries:
            self.store.append(decision.entries)
            journaled(self.state, decision.entries)
        return decision

    def rc(self, msg: Message, now: dt.datetime = NOW) -> str:
        resp = self.send(msg, now).response
        assert resp is not None
        return str(resp.fields[39])

    def points(self, pan: str) -> int:
        card = self.state.cards.get(pan)
        return card.points if card is not None else 0

    def restart(self, now: dt.datetime = NOW) -> None:
        """Stop and recover from the journal: the invariants hold, recovery starts, every card
        has the balance it had, and the recovered state equals the live one."""
        cfg = self.cfg.switch
        day = business_day(now, cfg.zone, cfg.business_day_cutover)
        before = snapshot(self.state).durable(day)
        assert check_invariants(raw(self.store)) == []
        self.store.close()
        self.store = open_journal(self.cfg.switch.journal)
        self.state = self.store.load(self.cfg, self.rules, now)
        self.state.limits = self.limits
        after = snapshot(self.state).durable(day)
        assert after.balances() == before.balances()
        assert after == before

    def close(self) -> None:
        self.store.close()
