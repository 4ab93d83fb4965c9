"""Connections to the PostgreSQL journal, and `PgDb`: a psycopg connection that runs the
journal's SQL as written for both engines (`switch/journal/sql/db.py`).

The SQL says `?` and `:name`; psycopg says `%s` and `%(name)s`. The journal's modules read
dates, instants and stored JSON back as SQLite gives them (ISO 8601 text, the JSON's text) and
sums as integers: the loaders here make PostgreSQL's `date`, `timestamptz`, `json` and
`numeric` read that way, so a settlement digests the same values on both engines.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import make_conninfo
from psycopg.types.datetime import DateLoader, TimestamptzLoader
from psycopg.types.numeric import NumericLoader

from switch.journal.errors import JournalError
from switch.journal.sql.db import POSTGRES, Dialect
from switch.pgconninfo import PgError, Target, one_line, parse_conninfo

Connection = psycopg.Connection[tuple[Any, ...]]

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def positional(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


@lru_cache(maxsize=64)
def binary(sql: str) -> str:
    """`?` placeholders as psycopg's binary `%b` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%b")


@lru_cache(maxsize=512)
def named(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s` (a cast `::type` left alone)."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def translate(sql: str, parameters: Any) -> str:
    if parameters is None:
        return sql
    return named(sql) if isinstance(parameters, Mapping) else positional(sql)


class _Wrapping(Loader):
    """psycopg's own loader for the type, its value turned into what SQLite would give."""

    inner: type[Loader]

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._inner = self.inner(oid, context)


class _IsoDate(_Wrapping):
    inner = DateLoader

    def load(self, data: Buffer) -> str:
        value: dt.date = self._inner.load(data)
        return value.isoformat()


class _IsoInstant(_Wrapping):
    inner = TimestamptzLoader

    def load(self, data: Buffer) -> str:
        value: dt.datetime = self._inner.load(data)
        return value.astimezone(dt.UTC).isoformat()


class _WholeNumeric(_Wrapping):
    inner = NumericLoader

    def load(self, data: Buffer) -> int | Decimal:
        value: Decimal = self._inner.load(data)
        return int(value) if value == value.to_integral_value() else value


class _JsonText(Loader):
    def load(self, data: Buffer) -> str:
        return bytes(data).decode()


def adapt(conn: Connection) -> None:
    """Make `conn` read values as SQLite gives them (see the module's docstring)."""
    conn.adapters.register_loader("date", _IsoDate)
    conn.adapters.register_loader("timestamptz", _IsoInstant)
    conn.adapters.register_loader("json", _JsonText)
    conn.adapters.register_loader("jsonb", _JsonText)
    conn.adapters.register_loader("numeric", _WholeNumeric)


class PgDb:
    """A psycopg connection speaking the journal's SQL (`switch.journal.sql.db.Db`)."""

    dialect: Dialect = POSTGRES

    def __init__(self, conn: Connection) -> None:
        adapt(conn)
        self.raw = conn

    def execute(self, sql: str, parameters: Any = None, /) -> Any:
        return self.raw.execute(translate(sql, parameters), parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        rows = list(parameters)
        if not rows:
            return None
        cur = self.raw.cursor()
        cur.executemany(translate(sql, rows[0]), rows)
        return cur

    def execute_columns(self, sql: str, columns: Sequence[list[Any]], /) -> Any:
        """`sql` whose `?` each take one column of a statement's rows as an array, sent in
        binary: a text array has each element escaped by psycopg's Python (a regular
        expression a value), five times the CPU of the binary one."""
        return self.raw.execute(binary(sql), columns)

    def pipeline(self) -> AbstractContextManager[Any]:
        """psycopg's pipeline: the statements executed inside are sent without waiting for
        one another's results, which come back, errors included, at its end."""
        return self.raw.pipeline()

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.raw.close()


def open_db(conninfo: str, *, autocommit: bool = True, readonly: bool = False) -> PgDb:
    """A connection of its own (a reader's, recovery's, the checkpoint thread's), in UTC;
    `JournalError` in one line naming the database (never the password) when it fails."""
    params, target = parse_conninfo(conninfo)
    if readonly:
        params = {**params, "target_session_attrs": "any"}
    try:
        conn: Connection = psycopg.connect(make_conninfo(**params), autocommit=autocommit)
        conn.execute("SET TIME ZONE 'UTC'")
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as exc:
        raise JournalError(f"database unreachable: {target}: "
                           f"{one_line(exc, (params.get('password', ''),))}") from None
    return PgDb(conn)


def target_of(conninfo: str) -> Target:
    """Where `conninfo` points, fit to print (`JournalError` for a malformed one)."""
    try:
        return parse_conninfo(conninfo)[1]
    except PgError as exc:
        raise JournalError(str(exc)) from None
