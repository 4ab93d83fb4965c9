"""A group commit's hot tables in one statement each, for an engine where every statement is a
round trip to a server that plans and runs it (PostgreSQL; docs/switch.md, "PostgreSQL").

`write_batch` (append.py) writes a row a statement, which SQLite, in the writing process,
runs for a few microseconds each. On PostgreSQL each of those is a statement the server
runs on its own (some 6 a journal entry), so a commit of a hundred entries cost hundreds of
statements. Here each table's rows go in one `INSERT ... SELECT FROM unnest(...)` of one
array per column, its text the same every time (the driver prepares it, once for each set of
the arrays' types it meets).

One statement may not touch a key twice (PostgreSQL refuses an upsert that does), so the rows
are first made one per key, to the same end as the row-a-statement writes in journal order:
- `batch_totals` adds each entry's counts: the counts added up per batch;
- `lots.remaining` adds each move: the moves added up per lot;
- `card_club`, `card_spend`, `card_stamps` and `terminals` write absolute values: the last
  row per key;
- `cards` inserts a new card and otherwise sets its status: the first row's card with the
  last row's status.

The schema is the latest (`append.Columns` all true): only tests write to an older one, and
only on SQLite. The column types are PostgreSQL's for these tables (`switch.journal.schema`);
a test compares them with a migrated database's.
"""

from __future__ import annotations

from collections.abc import Sequence

from switch.journal.batch import Params
from switch.journal.sql.common import TOTALS_COLUMNS
from switch.journal.sql.db import ColumnsDb

#: (column, PostgreSQL type) of each table as `write_batch` writes it, in its rows' order.
JOURNAL = (
    ("id", "bigint"), ("at", "timestamptz"), ("business_day", "date"), ("kind", "text"),
    ("mti", "text"), ("pc", "text"), ("terminal_id", "text"), ("store_id", "text"),
    ("coalition_id", "text"), ("pan", "text"), ("stan", "text"), ("transmission", "text"),
    ("rrn", "text"), ("amount", "bigint"), ("points", "bigint"), ("sv", "bigint"),
    ("response_code", "text"), ("batch", "text"), ("digest", "text"),
    ("original_id", "bigint"), ("original_stan", "text"), ("original_transmission", "text"),
    ("response", "json"), ("detail", "json"), ("program_version", "integer"))
LOTS = (
    ("id", "bigint"), ("pan", "text"), ("kind", "text"), ("store_id", "text"),
    ("coalition_id", "text"), ("earned_on", "date"), ("expires_on", "date"),
    ("initial", "bigint"), ("remaining", "bigint"), ("journal_id", "bigint"))
LOT_MOVES = (
    ("journal_id", "bigint"), ("lot_id", "bigint"), ("pan", "text"), ("kind", "text"),
    ("store_id", "text"), ("delta", "bigint"))
CARDS = (("pan", "text"), ("coalition_id", "text"), ("status", "text"),
         ("enrolled_on", "date"))
TERMINALS = (("id", "text"), ("store_id", "text"), ("signed_on", "boolean"))
CARD_CLUB = (
    ("pan", "text"), ("tier", "text"), ("tier_day", "date"), ("earned_day", "date"),
    ("earned", "bigint"), ("birthday_year", "integer"), ("member_tier", "text"),
    ("member_until", "date"))
CARD_SPEND = (("pan", "text"), ("business_day", "date"), ("amount", "bigint"))
CARD_STAMPS = (("pan", "text"), ("store_id", "text"), ("stamps", "integer"),
               ("rewards", "integer"))
BATCH_TOTALS = (("terminal_id", "text"), ("batch", "text"),
                *((c, "bigint") for c in TOTALS_COLUMNS))

#: Each table's columns as this module writes them, by table (what the schema test compares).
TABLES = {"journal": JOURNAL, "lots": LOTS, "lot_moves": LOT_MOVES, "cards": CARDS,
          "terminals": TERMINALS, "card_club": CARD_CLUB, "card_spend": CARD_SPEND,
          "card_stamps": CARD_STAMPS, "batch_totals": BATCH_TOTALS}


def _insert(table: str, columns: Sequence[tuple[str, str]], tail: str = "") -> str:
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"?::{kind}[]" for _, kind in columns)
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) AS r {tail}"


def _updates(columns: Sequence[tuple[str, str]], keys: int) -> str:
    return ", ".join(f"{name} = excluded.{name}" for name, _ in columns[keys:])


_JOURNAL = _insert("journal", JOURNAL)
_LOTS = _insert("lots", LOTS)
_MOVES = _insert("lot_moves", LOT_MOVES)
_DELTAS = ("UPDATE lots SET remaining = lots.remaining + d.delta "
           "FROM unnest(?::bigint[], ?::bigint[]) AS d (id, delta) WHERE lots.id = d.id")
_CARDS = _insert("cards", CARDS, "ON CONFLICT (pan) DO UPDATE SET status = excluded.status")
_TERMINALS = _insert("terminals", TERMINALS,
                     f"ON CONFLICT (id) DO UPDATE SET {_updates(TERMINALS, 1)}")
_CLUB = _insert("card_club", CARD_CLUB,
                f"ON CONFLICT (pan) DO UPDATE SET {_updates(CARD_CLUB, 1)}")
_SPEND = _insert("card_spend", CARD_SPEND,
                 f"ON CONFLICT (pan, business_day) DO UPDATE SET {_updates(CARD_SPEND, 2)}")
_STAMPS = _insert("card_stamps", CARD_STAMPS,
                  f"ON CONFLICT (pan, store_id) DO UPDATE SET {_updates(CARD_STAMPS, 2)}")
_TOTALS = _insert(
    "batch_totals", BATCH_TOTALS, "ON CONFLICT (terminal_id, batch) DO UPDATE SET "
    + ", ".join(f"{c} = batch_totals.{c} + excluded.{c}" for c in TOTALS_COLUMNS))


def _run(conn: ColumnsDb, sql: str, rows: Sequence[Params], width: int) -> None:
    """`sql` with the rows as one list per column (the arrays `unnest` zips back into rows)."""
    if rows:
        columns = [list(column) for column in zip(*rows, strict=True)]
        assert len(columns) == width, (sql, len(columns))
        conn.execute_columns(sql, columns)


def last_per_key(rows: Sequence[Params], keys: int) -> list[Params]:
    """The last row of each key (the first `keys` columns), in the order keys first appear."""
    last: dict[Params, Params] = {}
    for row in rows:
        last[row[:keys]] = row
    return list(last.values())


def summed_per_key(rows: Sequence[Params], keys: int) -> list[Params]:
    """One row per key (the first `keys` columns) holding the sums of the other columns."""
    sums: dict[Params, list[int]] = {}
    for row in rows:
        key = row[:keys]
        found = sums.get(key)
        if found is None:
            sums[key] = list(row[keys:])
        else:
            for i, value in enumerate(row[keys:]):
                found[i] += value
    return [(*key, *values) for key, values in sums.items()]


def lot_deltas(deltas: Sequence[Params]) -> list[Params]:
    """(lot id, delta) per lot from `(delta, lot id)` moves: their sum, none where it is 0."""
    per_lot: dict[int, int] = {}
    for delta, lot_id in deltas:
        per_lot[lot_id] = per_lot.get(lot_id, 0) + delta
    return [(lot_id, delta) for lot_id, delta in per_lot.items() if delta]


def card_rows(cards: Sequence[Params]) -> list[Params]:
    """One row per card: the first row's card (what its insert writes) with the last row's
    status (what each later upsert sets)."""
    merged: dict[str, Params] = {}
    for row in cards:
        first = merged.get(row[0])
        merged[row[0]] = row if first is None else (*first[:2], row[2], *first[3:])
    return list(merged.values())


def write_journal(conn: ColumnsDb, rows: Sequence[Params]) -> None:
    _run(conn, _JOURNAL, rows, len(JOURNAL))


def write_cards(conn: ColumnsDb, rows: Sequence[Params]) -> None:
    _run(conn, _CARDS, card_rows(rows), len(CARDS))


def write_lots(conn: ColumnsDb, rows: Sequence[Params]) -> None:
    _run(conn, _LOTS, rows, len(LOTS))


def write_moves(conn: ColumnsDb, moves: Sequence[Params], deltas: Sequence[Params]) -> None:
    _run(conn, _MOVES, moves, len(LOT_MOVES))
    _run(conn, _DELTAS, lot_deltas(deltas), 2)


def write_terminals(conn: ColumnsDb, rows: Sequence[Params]) -> None:
    _run(conn, _TERMINALS, last_per_key(rows, 1), len(TERMINALS))


def write_clubs(conn: ColumnsDb, clubs: Sequence[Params], spend: Sequence[Params],
                stamps: Sequence[Params]) -> None:
    """`card_club`, `card_spend` and `card_stamps` (`programs.club_values`)."""
    _run(conn, _CLUB, last_per_key(clubs, 1), len(CARD_CLUB))
    _run(conn, _SPEND, last_per_key(spend, 2), len(CARD_SPEND))
    _run(conn, _STAMPS, last_per_key(stamps, 2), len(CARD_STAMPS))


def write_totals(conn: ColumnsDb, rows: Sequence[Params]) -> None:
    _run(conn, _TOTALS, summed_per_key(rows, 2), len(BATCH_TOTALS))
