"""Builders for the customer-account tests: a configuration whose coalition takes mobile
numbers (docs/customers.md, "Mobile numbers at the POS"), a running switch, requests by DE48 MB.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from iso8583 import Message
from tests.switch.support import request
from tests.switch.test_crash import write_config

VIRTUAL_BIN = "639999"
NOW = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.UTC)


def mobile_config(tmp: Path, *, enroll: bool = True) -> tuple[Path, int]:
    """The example configuration on a free port, its coalition taking DE48 MB."""
    path, port = write_config(tmp)
    text = path.read_text().replace(
        "[coalition.tehran-mall.operator]",
        f'[coalition.tehran-mall.mobile]\nvirtual_bin = "{VIRTUAL_BIN}"\nlength = 16\n'
        f"enroll = {'true' if enroll else 'false'}\n\n[coalition.tehran-mall.operator]", 1)
    path.write_text(text)
    return path, port


def by_mobile(mti: str, tid: str, stan: int, mobile: str, pc: str, amount: int | None = None,
              **kw: Any) -> Message:
    """A request naming the customer by DE48 MB instead of DE2/DE35."""
    tags = {"MB": mobile, **kw.pop("tags", {})}
    return request(mti, tid, stan, pc=pc, amount=amount, tags=tags, **kw)


def virtual_cards(db: Path) -> list[tuple[str, int]]:
    """(card, account) of every virtual card, read straight from the database."""
    with sqlite3.connect(db) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT pan, account_id FROM account_cards WHERE virtual = 1 ORDER BY pan")]
