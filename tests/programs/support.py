"""Builders for the programs tests: configs with programs, a state running `ProgramRules`."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from typing import Any

from iso8583 import Message
from iso8583.loyalty import parse_de54, parse_tlv
from switch.config import Config, parse_config
from switch.core import Fetch, handle, new_state
from switch.core.programs.rules import program_rules
from switch.core.state import State
from tests.switch.support import EXAMPLE, T1, T2, T3, card, earn, request, sign_on

NOW = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.UTC)  # 13:30 in Tehran, a Monday
C1, C2, C3 = "STORE0000000001", "STORE0000000002", "STORE0000000003"


def example_data() -> dict[str, Any]:
    with open(EXAMPLE, "rb") as fh:
        return tomllib.load(fh)


def config_with(change: Any = None) -> Config:
    """The example configuration, changed in place by `change(data)`."""
    data = copy.deepcopy(example_data())
    if change is not None:
        change(data)
    return parse_config(data, "test.toml")


class Harness:
    """A `State` running the programs, with signed-on terminals and a STAN counter."""

    def __init__(self, cfg: Config | None = None, now: dt.datetime = NOW) -> None:
        self.cfg = cfg or config_with()
        self.state: State = new_state(self.cfg, program_rules(self.cfg))
        self.stan = 0
        self.entries: list[Any] = []
        #: The journal's rows for decisions on a recovered state (`SqliteJournal.fetch`).
        self.fetch: Fetch | None = None
        for tid in (T1, T2, T3):
            self.send(sign_on(tid, self.next_stan(), now=now), now)

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def send(self, msg: Message, now: dt.datetime = NOW) -> Message:
        decision = handle(self.state, msg, now, fetch=self.fetch)
        assert decision.response is not None
        self.entries += decision.entries
        return decision.response

    def earn(self, tid: str, pan: str, amount: int, now: dt.datetime = NOW) -> Message:
        return self.send(earn(tid, self.next_stan(), pan, amount, now=now), now)

    def pc(self, tid: str, pan: str, pc: str, amount: int | None = None,
           now: dt.datetime = NOW, tags: dict[str, str] | None = None) -> Message:
        return self.send(request("0200", tid, self.next_stan(), pan=pan, pc=pc, amount=amount,
                                 now=now, tags=tags), now)


def tags(resp: Message) -> dict[str, str]:
    return parse_tlv(resp.text(48)) if 48 in resp.fields else {}


def points_balance(resp: Message) -> int:
    return next(e.amount for e in parse_de54(resp.text(54)) if e.account_type == "00")


__all__ = ["C1", "C2", "C3", "NOW", "T1", "T2", "T3", "Harness", "card", "config_with",
           "points_balance", "tags"]
