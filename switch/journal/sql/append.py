"""Where money becomes durable: one group commit's rows, written in one transaction
(docs/switch.md, "Durability and recovery"). The caller commits (`SqliteJournal.append`,
`PgJournal.append`), so that the verified checkpoint's advance can ride in the same
transaction."""

from __future__ import annotations

import itertools
from typing import NamedTuple

from switch.journal.batch import KEY_COLUMNS, BatchRows, stored
from switch.journal.errors import JournalError
from switch.journal.sql import bulk, coupons
from switch.journal.sql.accounts import write_links
from switch.journal.sql.common import TOTALS_COLUMNS
from switch.journal.sql.db import ColumnsDb, Db, dialect_of
from switch.journal.sql.programs import club_values, with_members, write_club_rows
from switch.journal.sql.versions import write_versions

_COLUMNS = (
    "id, at, business_day, kind, mti, pc, terminal_id, store_id, coalition_id, pan, stan, "
    "transmission, rrn, amount, points, sv, response_code, batch, digest, original_id, "
    "original_stan, original_transmission, response, detail, program_version")
_JOURNAL = f"INSERT INTO journal ({_COLUMNS}) VALUES ({','.join('?' * 25)})"
#: A journal whose schema stops before the programs' versions (only tests write to one: the
#: journal migrates when it opens) takes its rows without the version.
_UNVERSIONED = (f"INSERT INTO journal ({_COLUMNS.rsplit(',', 1)[0]}) "
                f"VALUES ({','.join('?' * 24)})")
_CARDS = ("INSERT INTO cards (pan, coalition_id, status, enrolled_on) VALUES (?,?,?,?) "
          "ON CONFLICT(pan) DO UPDATE SET status=excluded.status")
_TERMINALS = ("INSERT INTO terminals (id, store_id, signed_on) VALUES (?,?,?) "
              "ON CONFLICT(id) DO UPDATE SET store_id=excluded.store_id, "
              "signed_on=excluded.signed_on")
#: An entry's `TotalsDelta` added to its batch's row (created at the batch's first count).
#: The existing row's columns are named with their table (PostgreSQL requires it).
_TOTALS = (
    f"INSERT INTO batch_totals (terminal_id, batch, {', '.join(TOTALS_COLUMNS)}) "
    f"VALUES (?,?,{','.join('?' * len(TOTALS_COLUMNS))}) ON CONFLICT(terminal_id, batch) "
    "DO UPDATE SET "
    + ", ".join(f"{c} = batch_totals.{c} + excluded.{c}" for c in TOTALS_COLUMNS))
# A NULL leaves a key column as it was: a key exchange keeps the TMK.
_KEYS = (
    f"INSERT INTO terminal_keys (terminal_id, updated_at, {', '.join(KEY_COLUMNS)}) "
    f"VALUES (?,?,{','.join('?' * len(KEY_COLUMNS))}) ON CONFLICT(terminal_id) DO UPDATE SET "
    f"{', '.join(f'{c}=COALESCE(excluded.{c}, terminal_keys.{c})' for c in KEY_COLUMNS)}, "
    "updated_at=excluded.updated_at")
_PINS = ("INSERT INTO card_pins (pan, pin, tries, updated_at) VALUES (?,?,?,?) "
         "ON CONFLICT(pan) DO UPDATE SET pin=COALESCE(excluded.pin, card_pins.pin), "
         "tries=excluded.tries, updated_at=excluded.updated_at")
_LOTS = ("INSERT INTO lots (id, pan, kind, store_id, coalition_id, earned_on, expires_on, "
         "initial, remaining, journal_id) VALUES (?,?,?,?,?,?,?,?,?,?)")
_MOVES = ("INSERT INTO lot_moves (journal_id, lot_id, pan, kind, store_id, delta) "
          "VALUES (?,?,?,?,?,?)")


def versioned(conn: Db) -> bool:
    """Whether the journal table has the `program_version` column (the columns of an empty
    result, on either engine)."""
    cur = conn.execute("SELECT * FROM journal WHERE 1 = 0")
    cur.fetchall()  # in a PostgreSQL pipeline, the description comes with the result
    return any(d[0] == "program_version" for d in cur.description)


class Columns(NamedTuple):
    """Which of the columns later migrations added the journal's schema has: read at its
    first group commit (`written_columns`) and kept, since a journal migrates when it opens
    and no migration drops a column. Only tests write to a schema from before them."""

    program_version: bool
    member_tier: bool


def written_columns(conn: Db) -> Columns:
    """The `Columns` of the journal `conn` holds (two empty reads)."""
    return Columns(versioned(conn), with_members(conn))


def last_journal_id(conn: Db) -> int:
    return int(conn.execute("SELECT MAX(id) FROM journal").fetchone()[0] or 0)


def write_batch(conn: Db, rows: BatchRows, location: str, columns: Columns) -> None:
    """Every row of the batch, inside the caller's open transaction: a row a statement, or on
    an engine whose `Dialect.bulk_writes` says so, each hot table's rows in one statement
    (`bulk`, which ends in the same rows)."""
    assert conn.in_transaction
    in_bulk = conn if dialect_of(conn).bulk_writes else None
    # bulk writes the latest schema's columns (only tests write to an older one, on SQLite)
    assert in_bulk is None or (isinstance(in_bulk, ColumnsDb) and all(columns))
    if rows.journal:
        # Append-only in id order: what the verified checkpoint rests on.
        last = last_journal_id(conn)
        ids = rows.ids
        if ids[0] <= last or any(a >= b for a, b in itertools.pairwise(ids)):
            raise JournalError(f"{location}: journal ids {ids[0]}..{ids[-1]} do not follow the "
                               f"last committed id {last} in order")
        journal = stored(rows.journal)
        if in_bulk is not None:
            bulk.write_journal(in_bulk, journal)
        elif columns.program_version:
            conn.executemany(_JOURNAL, journal)
        else:
            conn.executemany(_UNVERSIONED, [row[:-1] for row in journal])
    if rows.cards:
        if in_bulk is not None:
            bulk.write_cards(in_bulk, rows.cards)
        else:
            conn.executemany(_CARDS, rows.cards)
    if rows.links:
        write_links(conn, rows.links)
    if rows.lots:
        if in_bulk is not None:
            bulk.write_lots(in_bulk, rows.lots)
        else:
            conn.executemany(_LOTS, rows.lots)
    if rows.moves:
        if in_bulk is not None:
            bulk.write_moves(in_bulk, rows.moves, rows.deltas)
        else:
            conn.executemany(_MOVES, rows.moves)
            conn.executemany("UPDATE lots SET remaining = remaining + ? WHERE id = ?",
                             rows.deltas)
    if rows.terminals:
        if in_bulk is not None:
            bulk.write_terminals(in_bulk, rows.terminals)
        else:
            conn.executemany(_TERMINALS, rows.terminals)
    if rows.clubs:
        if in_bulk is not None:
            bulk.write_clubs(in_bulk, *club_values(rows.clubs))
        else:
            write_club_rows(conn, rows.clubs, columns.member_tier)
    if rows.totals:
        if in_bulk is not None:
            bulk.write_totals(in_bulk, rows.totals)
        else:
            conn.executemany(_TOTALS, rows.totals)
    if rows.keys:
        conn.executemany(_KEYS, rows.keys)
    if rows.pins:
        conn.executemany(_PINS, rows.pins)
    if rows.coupons:
        coupons.write_moves(conn, rows.coupons)
    if rows.programs:
        write_versions(conn, rows.programs)
