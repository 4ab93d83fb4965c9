"""What the journal's SQL runs on: a connection either engine gives, and the few words in which
their SQL differs (docs/switch.md, "The journal package").

The SQL of `switch/journal/sql` is written once, with `?` and `:name` placeholders, dates and
times passed and read as ISO 8601 text, and only what SQLite and PostgreSQL both understand
(`COALESCE`, `CASE`, `ON CONFLICT ... DO UPDATE` with the target table named, `RETURNING`).
An SQLite connection runs it as it is; `switch.journal.postgres.connect.PgDb` translates the
placeholders for psycopg and reads PostgreSQL's `date`, `timestamptz`, `numeric` and `json`
back as SQLite would give them. What cannot be said the same way on both is a `Dialect`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class Cursor(Protocol):
    """The rows of one statement (sqlite3's and psycopg's cursors both are)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(Protocol):
    """A connection the journal's SQL runs on: `sqlite3.Connection`, or `PgDb`."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...


@runtime_checkable
class ColumnsDb(Db, Protocol):
    """A connection that takes a statement's rows as one array per column (`bulk`)."""

    def execute_columns(self, sql: str, columns: Sequence[list[Any]], /) -> Any: ...


@runtime_checkable
class PipelineDb(Db, Protocol):
    """A connection whose statements issued within `pipeline()` go to the server together and
    come back together (one round trip), each cursor's rows read after the block."""

    def pipeline(self) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """What each engine says its own way."""

    name: str
    #: A write transaction (SQLite: take the write lock at once, not at the first write).
    begin_write: str
    #: A read transaction in which every statement sees the same state of the database.
    begin_snapshot: str
    #: The names of the tables of the database (one column).
    tables: str
    #: SQLite's query-planner hints (`INDEXED BY`, `NOT INDEXED`) apply.
    index_hints: bool
    #: `{column}` holds a JSON object whose `{key}` is true (SQL's truth, not JSON's).
    json_true: str
    #: Each statement is a round trip to a server that plans and runs it: a group commit
    #: writes each hot table's rows in one statement (`switch.journal.sql.bulk`; the
    #: connection is a `ColumnsDb`).
    bulk_writes: bool

    def json_is_true(self, column: str, key: str) -> str:
        return self.json_true.format(column=column, key=key)

    def indexed_by(self, table: str, index: str | None) -> str:
        """`table`, read through `index` (None: by a scan of the table) where hints apply."""
        if not self.index_hints:
            return table
        return f"{table} NOT INDEXED" if index is None else f"{table} INDEXED BY {index}"


SQLITE = Dialect(
    name="sqlite",
    begin_write="BEGIN IMMEDIATE",
    begin_snapshot="BEGIN",  # deferred: the first read fixes the snapshot (WAL)
    tables="SELECT name FROM sqlite_master WHERE type = 'table'",
    index_hints=True,
    json_true="json_extract({column}, '$.{key}')",
    bulk_writes=False,
)

POSTGRES = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    # READ COMMITTED takes a new snapshot per statement; REPEATABLE READ keeps the first.
    begin_snapshot="BEGIN ISOLATION LEVEL REPEATABLE READ",
    tables="SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
    index_hints=False,
    json_true="COALESCE(({column}->>'{key}')::boolean, false)",
    bulk_writes=True,
)


def dialect_of(conn: Db) -> Dialect:
    """The dialect of a connection: `PgDb` names its own; a plain sqlite3 connection has none."""
    found = getattr(conn, "dialect", None)
    return found if isinstance(found, Dialect) else SQLITE


def tables(conn: Db) -> set[str]:
    return {str(r[0]) for r in conn.execute(dialect_of(conn).tables)}
