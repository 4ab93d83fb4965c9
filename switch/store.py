"""The durable journal: SQLite in WAL mode, `synchronous=FULL`, schema by versioned migrations.

The switch sees it through `Store` (append a batch, load the state, read a business day), so a
deployment that outgrows one machine can put the same journal on another database without
touching the core. `SqliteStore` is the implementation; one connection, used by one thread
(the writer's), plus read-only use at start-up and by operator commands.

Tables (settlement reads them; see docs/switch.md for every column):
`journal` (one row per answered request or operator command, append-only), `lots` (every
points/stored-value lot with its issuing store; `remaining` is the sum of its moves),
`lot_moves` (signed changes to lots, by journal entry: what a burn drew from whom), `cards`,
`terminals`, `schema_migrations`; `verified`, `verified_lots`, `verified_cards` (the verified
checkpoint start-up checks from: see `verify`).

Over 400 lines: schema, writes, recovery, the rows decisions fetch and the invariant checks
all speak this one database's SQL; they are to move into a journal package of their own,
together, behind the `Store` protocol.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from iso8583.message import Message
from switch.config import Config
from switch.core import entries as E
from switch.core.admin import new_state
from switch.core.calendar import business_day
from switch.core.codes import (
    COUNTED_KINDS,
    CREDIT_PCS,
    DEBIT_PCS,
    NOT_REVERSIBLE,
    RC,
    UNREMEMBERED_KINDS,
    Kind,
    LotKind,
    sql_list,
    sql_text,
)
from switch.core.facts import (
    NO_CHECKS,
    NOTHING_RETURNED,
    Checks,
    Facts,
    Needs,
    Returned,
    ReturnRow,
)
from switch.core.model import (
    APPROVED,
    POINTS,
    REVERSED,
    REVERSIBLE,
    Card,
    Lot,
    Remembered,
    Totals,
    TxnKey,
    txn_key,
)
from switch.core.programs.club import ClubRows
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.filemode import check_private, private_database
from switch.programs_store import load_clubs, migrate_v4, migrate_v5, write_club_rows

log = logging.getLogger("lps.store")


class StoreError(RuntimeError):
    """The journal cannot be written or read: the switch must stop."""


class RecoveryError(StoreError):
    """The database breaks an invariant money depends on; the switch refuses to start."""


class Store(Protocol):
    def append(self, entries: Sequence[E.Entry]) -> None:
        """Persist `entries` atomically and durably, or raise `StoreError`."""
        ...

    def fetch(self, needs: Needs, checks: Checks = NO_CHECKS) -> Facts:
        """The committed journal rows a decision needs (`core.needs`), with `checks`."""
        ...

    def load(self, config: Config, rules: RuleBook | None, now: dt.datetime) -> State:
        """Rebuild the in-memory state, checking the invariants first."""
        ...

    def business_day(self, day: dt.date) -> Iterator[dict[str, Any]]:
        """The journal rows of one business day, in order."""
        ...

    def close(self) -> None: ...


# -- schema -----------------------------------------------------------------------------------


def _v1(db: sqlite_utils.Database) -> None:
    db.create_table("journal", {
        "id": int, "at": str, "business_day": str, "kind": str, "mti": str, "pc": str,
        "terminal_id": str, "store_id": str, "coalition_id": str, "pan": str, "stan": str,
        "transmission": str, "rrn": str, "amount": int, "points": int, "sv": int,
        "response_code": str, "batch": str, "digest": str, "original_id": int,
        "original_stan": str, "original_transmission": str, "response": str, "detail": str,
    }, pk="id", not_null={"at", "business_day", "kind", "amount", "points", "sv"})
    db.create_table("lots", {
        "id": int, "pan": str, "kind": str, "store_id": str, "coalition_id": str,
        "earned_on": str, "expires_on": str, "initial": int, "remaining": int,
        "journal_id": int,
    }, pk="id", not_null={"pan", "kind", "store_id", "initial", "remaining", "journal_id"})
    db.create_table("lot_moves", {
        "journal_id": int, "lot_id": int, "pan": str, "kind": str, "store_id": str,
        "delta": int,
    }, not_null={"journal_id", "lot_id", "pan", "kind", "store_id", "delta"})
    db.create_table("cards", {
        "pan": str, "coalition_id": str, "status": str, "enrolled_on": str,
    }, pk="pan", not_null={"coalition_id", "status", "enrolled_on"})
    db.create_table("terminals", {
        "id": str, "store_id": str, "signed_on": int,
    }, pk="id")
    db.table("journal").create_index(["business_day"], index_name="journal_day")
    db.table("journal").create_index(["pan"], index_name="journal_pan")
    db.table("lots").create_index(["pan"], index_name="lots_pan")
    db.table("lot_moves").create_index(["journal_id"], index_name="lot_moves_journal")


#: Versioned migrations, applied in order, each in its own transaction. Append, never edit.
def _v2(db: sqlite_utils.Database) -> None:
    # Returns look their original up by RRN, reversals by original_id, long after the cache.
    db.table("journal").create_index(["rrn"], index_name="journal_rrn")
    db.table("journal").create_index(["original_id"], index_name="journal_original")


def _v3(db: sqlite_utils.Database) -> None:
    # Message security (docs/security.md): keys and PINs only as the HSM wrapped them (LMK).
    db.create_table("terminal_keys", {
        "terminal_id": str, "tmk": str, "tmk_kcv": str, "mac": str, "mac_kcv": str,
        "pin": str, "pin_kcv": str, "bdk": str, "bdk_kcv": str, "updated_at": str,
    }, pk="terminal_id")
    db.create_table("card_pins", {
        "pan": str, "pin": str, "tries": int, "updated_at": str,
    }, pk="pan", not_null={"tries"})


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "journal, lots, lot_moves, cards, terminals", _v1),
    (2, "journal indexes by rrn and original_id", _v2),
    (3, "terminal_keys and card_pins (under the HSM's LMK)", _v3),
]

#: Columns of `terminal_keys` a decision may set (`detail["security"]["terminal_keys"]`).
_KEY_COLUMNS = ("tmk", "tmk_kcv", "mac", "mac_kcv", "pin", "pin_kcv", "bdk", "bdk_kcv")


def _security_rows(e: E.Entry, keys: list[tuple[Any, ...]], pins: list[tuple[Any, ...]]
                   ) -> dict[str, Any] | None:
    """Collect the key/PIN rows an entry carries; return the detail the journal keeps.

    Wrapped keys and PINs go to their tables only: the journal keeps the check values and
    the try count (an audit trail without the stored secrets, wrapped as they are).
    """
    sec = e.detail.get("security")
    if not sec:
        return e.detail
    at = e.at.isoformat()
    kept: dict[str, Any] = {}
    tk = sec.get("terminal_keys")
    if tk:
        keys.append((e.terminal_id, at, *(tk.get(c) for c in _KEY_COLUMNS)))
        kept["terminal_keys"] = {c: v for c, v in tk.items() if c.endswith("_kcv")}
    cp = sec.get("card_pin")
    if cp:
        pins.append((e.pan, cp.get("pin"), cp["tries"], at))
        kept["card_pin"] = {"tries": cp["tries"], **({"pin": "set"} if cp.get("pin") else {})}
    return {**e.detail, "security": kept}

MIGRATIONS.append((4, "programs: customers, card_club, card_spend, card_stamps", migrate_v4))
MIGRATIONS.append((5, "programs: issued_cards (numbers sent to the card printer)", migrate_v5))


def _v6(db: sqlite_utils.Database) -> None:
    # The verified checkpoint (see `verify`): start-up checks the rows after it against the
    # sums it records instead of re-adding the whole journal. No row in `verified`: nothing is
    # verified yet, so the first start-up after this migration checks every row (and records
    # the checkpoint). Absent rows in the other two tables stand for 0.
    db.execute(
        "CREATE TABLE verified (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "journal_id INTEGER NOT NULL, at TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE verified_cards (pan TEXT NOT NULL, kind TEXT NOT NULL, "
        "total INTEGER NOT NULL, PRIMARY KEY (pan, kind)) WITHOUT ROWID")
    db.execute(
        "CREATE TABLE verified_lots (lot_id INTEGER PRIMARY KEY, pan TEXT NOT NULL, "
        "kind TEXT NOT NULL, moved INTEGER NOT NULL)")
    # The live lots (what the cache loads and the per-card check adds up), without the spent
    # and expired ones that make up most of the table after a while.
    db.execute("CREATE INDEX lots_live ON lots (pan, kind) WHERE remaining != 0")


MIGRATIONS.append((6, "verified checkpoint: verified, verified_cards, verified_lots; lots_live",
                   _v6))


#: A terminal batch's 0500 totals (PROTOCOL.md §4) from the journal: approved earns/advices
#: (credits) and redemptions (debits) by the batch they were made in, and those of them an
#: approved reversal undid. The backfill of migration 7 and `lps check --full` both use it.
_OK = sql_text(RC.APPROVED)
_CREDIT = f"j.pc IN {sql_list(CREDIT_PCS)}"
assert len(CREDIT_PCS) == 1 and not CREDIT_PCS & DEBIT_PCS  # debits: every other counted pc
_JOURNAL_BATCH_TOTALS = (
    "SELECT j.terminal_id, j.batch, "
    f"SUM({_CREDIT}), SUM(CASE WHEN {_CREDIT} THEN j.amount ELSE 0 END), "
    f"SUM({_CREDIT} AND r.id IS NOT NULL), "
    f"SUM(CASE WHEN {_CREDIT} AND r.id IS NOT NULL THEN j.amount ELSE 0 END), "
    f"SUM(NOT {_CREDIT}), SUM(CASE WHEN NOT {_CREDIT} THEN j.amount ELSE 0 END), "
    f"SUM(NOT {_CREDIT} AND r.id IS NOT NULL), "
    f"SUM(CASE WHEN NOT {_CREDIT} AND r.id IS NOT NULL THEN j.amount ELSE 0 END) "
    "FROM journal j LEFT JOIN (SELECT DISTINCT original_id id FROM journal "
    f"WHERE kind = {sql_text(Kind.REVERSAL)} AND response_code = {_OK} "
    "AND json_extract(detail, '$.undone')) r ON r.id = j.id "
    f"WHERE j.response_code = {_OK} AND j.kind IN {sql_list(COUNTED_KINDS)} "
    "GROUP BY j.terminal_id, j.batch")

_TOTALS_COLUMNS = ("credits", "credit_amount", "credit_reversals", "credit_reversal_amount",
                   "debits", "debit_amount", "debit_reversals", "debit_reversal_amount")


#: An entry's `TotalsDelta` added to its batch's row (created at the batch's first count).
_TOTALS_SQL = (
    f"INSERT INTO batch_totals (terminal_id, batch, {', '.join(_TOTALS_COLUMNS)}) "
    f"VALUES (?,?,{','.join('?' * len(_TOTALS_COLUMNS))}) ON CONFLICT(terminal_id, batch) "
    f"DO UPDATE SET {', '.join(f'{c} = {c} + excluded.{c}' for c in _TOTALS_COLUMNS)}")


def _v7(db: sqlite_utils.Database) -> None:
    # Each terminal batch's 0500 totals, changed in the same transaction as the journal row,
    # so that a 0500 counts the whole batch however long it stayed open (the cache only holds
    # the idempotency window). Filled from the journal for the batches already there.
    cols = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _TOTALS_COLUMNS)
    db.execute(f"CREATE TABLE batch_totals (terminal_id TEXT NOT NULL, batch TEXT NOT NULL, "
               f"{cols}, PRIMARY KEY (terminal_id, batch)) WITHOUT ROWID")
    db.execute(f"INSERT INTO batch_totals SELECT * FROM ({_JOURNAL_BATCH_TOTALS})")


MIGRATIONS.append((7, "batch_totals: each terminal batch's 0500 totals", _v7))


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the latest version; returns it."""
    db = sqlite_utils.Database(conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    version = max(done, default=0)
    for number, name, step in MIGRATIONS:
        if number in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (number, name, dt.datetime.now(dt.UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = number
    return version


# -- message (de)serialization for the idempotency index ------------------------------------------


def message_to_json(msg: Message) -> str:
    fields = {
        str(k): ({"b": v.hex()} if isinstance(v, bytes) else v) for k, v in msg.fields.items()
    }
    return json.dumps(
        {"mti": msg.mti, "tpdu": msg.tpdu.hex() if msg.tpdu else None, "fields": fields},
        separators=(",", ":"), ensure_ascii=False,
    )


def message_from_json(text: str) -> Message:
    data = json.loads(text)
    fields: dict[int, str | bytes] = {
        int(k): (bytes.fromhex(v["b"]) if isinstance(v, dict) else v)
        for k, v in data["fields"].items()
    }
    tpdu = bytes.fromhex(data["tpdu"]) if data["tpdu"] else None
    return Message(mti=data["mti"], fields=fields, tpdu=tpdu)


# -- the SQLite store -------------------------------------------------------------------------


_JOURNAL_SQL = (
    "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
    "coalition_id, pan, stan, transmission, rrn, amount, points, sv, response_code, batch, "
    "digest, original_id, original_stan, original_transmission, response, detail) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with `synchronous=FULL` (durability before reply)."""
    if readonly:
        check_private(path, StoreError)  # 0600 only (switch/filemode.py)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with private_database(path, StoreError):  # created 0600, refused wider
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@dataclass(slots=True)
class RecoveryReport:
    cards: int = 0
    lots: int = 0
    transactions: int = 0
    journal_entries: int = 0
    seconds: float = 0.0


def _undone(detail: str | None) -> bool:
    """Whether a reversal row undid its original (a repeated one has nothing to undo)."""
    return bool(detail) and bool(json.loads(detail or "{}").get("undone"))


# -- the verified checkpoint ------------------------------------------------------------------
#
# The money invariants: (L) each lot's `remaining` is the sum of its `lot_moves`; (C) per card
# and kind, the lots' `remaining` add up to the card's journal `points` (or `sv`).
# `check_invariants` re-adds the whole history. The checkpoint (`verified`, migration 6) records
# a journal id J up to which that history has been checked, and what it adds up to:
# `verified_lots.moved` is the sum of a lot's moves with `journal_id <= J` (with the card and
# kind its moves name), `verified_cards.total` the sum of a card's journal points (sv) with
# `id <= J`; an absent row stands for 0.
#
# It rests on the journal being append-only in id order: rows with ids up to J never change and
# none are added below J (`append` refuses ids that are not above every committed one). So the
# sums up to J are facts about immutable rows, and a later check needs to add up only the rows
# after J. `verify` checks those rows and compares the current `lots` against checkpoint + tail;
# `_advance` moves J forward, recomputing the new sums from the same immutable rows (never from
# `lots`), inside whichever write transaction applies it.

#: Tail lots: every lot with a move after `after` against its checkpoint plus those moves (L).
_TAIL_LOTS = (
    "SELECT t.lot_id, l.remaining, COALESCE(v.moved, 0) + t.s, l.pan, l.kind, "
    "COALESCE(v.pan, l.pan), COALESCE(v.kind, l.kind) FROM "
    "(SELECT lot_id, SUM(delta) s FROM lot_moves WHERE journal_id > :after "
    "AND journal_id <= :upto GROUP BY lot_id) t "
    "LEFT JOIN lots l ON l.id = t.lot_id LEFT JOIN verified_lots v ON v.lot_id = t.lot_id "
    "WHERE l.remaining IS NULL OR l.remaining != COALESCE(v.moved, 0) + t.s "
    "OR l.pan != v.pan OR l.kind != v.kind ORDER BY t.lot_id LIMIT 20")

#: Tail moves naming another card or kind than their lot's.
_TAIL_OWNERS = (
    "SELECT m.lot_id, l.pan, l.kind, m.pan, m.kind FROM lot_moves m JOIN lots l "
    "ON l.id = m.lot_id WHERE m.journal_id > :after AND m.journal_id <= :upto "
    "AND (l.pan != m.pan OR l.kind != m.kind) ORDER BY m.lot_id LIMIT 20")

#: Every other lot against its checkpoint (L): each verified lot still holds what was verified,
#: and still belongs to the card and kind its moves named (so every card's sum stays (C))...
_CHECKPOINT_LOTS = (
    "SELECT v.lot_id, l.remaining, v.moved, l.pan, l.kind, v.pan, v.kind FROM verified_lots v "
    "LEFT JOIN lots l ON l.id = v.lot_id WHERE (l.remaining IS NULL OR l.remaining != v.moved "
    "OR l.pan != v.pan OR l.kind != v.kind) AND v.lot_id NOT IN "
    "(SELECT lot_id FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto) "
    "ORDER BY v.lot_id LIMIT 20")
#: ...and no other lot is live: as many live lots outside the tail as verified ones.
_LIVE_UNVERIFIED_COUNT = (
    "SELECT (SELECT COUNT(*) FROM lots WHERE remaining != 0 AND id NOT IN "
    "(SELECT lot_id FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto)) - "
    "(SELECT COUNT(*) FROM verified_lots WHERE lot_id NOT IN "
    "(SELECT lot_id FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto))")
_LIVE_UNVERIFIED = (
    "SELECT id, remaining, 0 FROM lots WHERE remaining != 0 AND id NOT IN "
    "(SELECT lot_id FROM verified_lots) AND id NOT IN "
    "(SELECT lot_id FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto) "
    "ORDER BY id LIMIT 20")

_POINTS, _SV = sql_text(LotKind.POINTS), sql_text(LotKind.STORED_VALUE)
_TAIL_SUMS = (
    f"SELECT pan, {_POINTS} kind, SUM(points) s FROM journal WHERE id > :after "
    "AND id <= :upto AND points != 0 GROUP BY pan UNION ALL "
    f"SELECT pan, {_SV}, SUM(sv) FROM journal WHERE id > :after AND id <= :upto AND sv != 0 "
    "GROUP BY pan")

#: The cards the tail touched (journal rows, or moves of their lots): live lots against the
#: checkpoint's total plus the journal rows after it (C).
_TAIL_CARDS = (
    f"WITH tail(pan, kind, s) AS ({_TAIL_SUMS}), "
    "touched(pan) AS (SELECT pan FROM tail UNION SELECT l.pan FROM lot_moves m "
    "JOIN lots l ON l.id = m.lot_id WHERE m.journal_id > :after AND m.journal_id <= :upto) "
    "SELECT pan, kind, SUM(a), SUM(b) FROM ("
    "SELECT pan, kind, remaining a, 0 b FROM lots WHERE remaining != 0 "
    "AND pan IN (SELECT pan FROM touched) "
    "UNION ALL SELECT pan, kind, 0, total FROM verified_cards "
    "WHERE pan IN (SELECT pan FROM touched) "
    "UNION ALL SELECT pan, kind, 0, s FROM tail"
    ") GROUP BY pan, kind HAVING SUM(a) != SUM(b) LIMIT 20")


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of `verify`: journal rows (after, upto] checked; no problems: sound."""

    after: int
    upto: int
    problems: list[str]


def _lot_problem(lot_id: int, remaining: int | None, expected: int) -> str:
    if remaining is None:
        return f"lot {lot_id}: has moves summing to {expected} but no lot row"
    return f"lot {lot_id}: remaining {remaining} but its moves sum to {expected}"


def _owner_problem(lot_id: int, pan: str, kind: str, was_pan: str, was_kind: str) -> str:
    return (f"lot {lot_id}: belongs to card {pan[:6]}...{pan[-4:]} ({kind}) but its moves name "
            f"card {was_pan[:6]}...{was_pan[-4:]} ({was_kind})")


def _checkpoint_lot_problem(lot_id: int, remaining: int | None, moved: int, pan: str | None,
                            kind: str | None, was_pan: str, was_kind: str) -> str:
    if remaining is None or pan is None or kind is None or remaining != moved:
        return _lot_problem(lot_id, remaining, moved)
    return _owner_problem(lot_id, pan, kind, was_pan, was_kind)


def _card_problem(pan: str, kind: str, lots_sum: int, journal_sum: int) -> str:
    return (f"card {pan[:6]}...{pan[-4:]}: {kind} lots sum to {lots_sum} "
            f"but its journal entries to {journal_sum}")


def verified_upto(conn: sqlite3.Connection) -> int:
    """J: every journal row and lot move with a journal id up to it has been verified."""
    row = conn.execute("SELECT journal_id FROM verified WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def verify(conn: sqlite3.Connection, *, everything: bool) -> Verification:
    """Check the journal rows after the verified checkpoint, in one read snapshot.

    Always, for the rows after the checkpoint J (up to the newest committed row): every lot
    they move has `remaining` = its checkpoint sum + those moves (L, as the full check) and the
    card and kind its moves name, and every card they touch has live lots summing to its
    checkpoint total + those journal rows (C, as the full check). With `everything` (start-up)
    also every other lot: `remaining` equal to its checkpoint sum, same card and kind (so no lot
    changed without a move or changed hands, and every untouched card still sums to its
    checkpoint total), and no live lot outside the checkpoint and the tail. What only
    `check_invariants` and `check_checkpoint` (`lps check --full`) see: journal or lot_moves
    rows up to J changed after they were verified, and checkpoint rows changed to match
    changed lots.
    """
    assert not conn.in_transaction
    conn.execute("BEGIN")  # one snapshot for all the queries (deferred: read-only)
    try:
        after = verified_upto(conn)
        upto = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])
        args = {"after": after, "upto": upto}
        problems = [] if upto >= after else [
            f"journal: ends at #{upto}, before its verified checkpoint #{after}"]
        problems += [_checkpoint_lot_problem(*r) for r in conn.execute(_TAIL_LOTS, args)]
        problems += [_owner_problem(*r) for r in conn.execute(_TAIL_OWNERS, args)]
        if everything:
            problems += [_checkpoint_lot_problem(*r)
                         for r in conn.execute(_CHECKPOINT_LOTS, args)]
            if conn.execute(_LIVE_UNVERIFIED_COUNT, args).fetchone()[0] != 0:
                problems += [_lot_problem(*r) for r in conn.execute(_LIVE_UNVERIFIED, args)]
                if not problems:
                    problems.append("lots: the live lots do not match the verified checkpoint")
        if upto > after:
            problems += [_card_problem(*r) for r in conn.execute(_TAIL_CARDS, args)]
    finally:
        conn.execute("COMMIT")
    return Verification(after, upto, problems[:40])


def _advance(conn: sqlite3.Connection, after: int, upto: int) -> bool:
    """Move the checkpoint from `after` to `upto` (verified) inside the caller's write
    transaction; False (and nothing written) when someone else moved it meanwhile."""
    assert conn.in_transaction
    if verified_upto(conn) != after:
        return False
    if upto == after:
        return True
    args = {"after": after, "upto": upto}
    tail_lots = ("SELECT lot_id FROM lot_moves WHERE journal_id > :after "
                 "AND journal_id <= :upto")
    # pan and kind as the (verified) moves name them: every move of a lot names the same.
    conn.execute(
        "INSERT INTO verified_lots (lot_id, pan, kind, moved) SELECT lot_id, MIN(pan), "
        "MIN(kind), SUM(delta) FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto "
        "GROUP BY lot_id HAVING SUM(delta) != 0 "
        "ON CONFLICT(lot_id) DO UPDATE SET moved = moved + excluded.moved", args)
    conn.execute(f"DELETE FROM verified_lots WHERE moved = 0 AND lot_id IN ({tail_lots})", args)
    conn.execute(
        f"INSERT INTO verified_cards (pan, kind, total) SELECT * FROM ({_TAIL_SUMS}) WHERE true "
        "ON CONFLICT(pan, kind) DO UPDATE SET total = total + excluded.total", args)
    conn.execute(
        "DELETE FROM verified_cards WHERE total = 0 AND pan IN (SELECT pan FROM journal "
        "WHERE id > :after AND id <= :upto AND (points != 0 OR sv != 0))", args)
    conn.execute(
        "INSERT INTO verified (id, journal_id, at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE "
        "SET journal_id = excluded.journal_id, at = excluded.at",
        (upto, dt.datetime.now(dt.UTC).isoformat()))
    return True


def check_invariants(conn: sqlite3.Connection) -> list[str]:
    """Money invariants over the whole history (no checkpoint); the violations, empty when the
    database is sound. Start-up runs `verify` instead; `lps check --full` runs this."""
    problems = []
    q = conn.execute
    for lot_id, remaining, moved in q(
        "SELECT l.id, l.remaining, COALESCE(m.s, 0) FROM lots l LEFT JOIN "
        "(SELECT lot_id, SUM(delta) s FROM lot_moves GROUP BY lot_id) m ON m.lot_id = l.id "
        "WHERE l.remaining != COALESCE(m.s, 0) LIMIT 20"
    ):
        problems.append(f"lot {lot_id}: remaining {remaining} but its moves sum to {moved}")
    for pan, kind, lots_sum, journal_sum in q(
        "SELECT pan, kind, SUM(a), SUM(b) FROM ("
        "SELECT pan, kind, remaining a, 0 b FROM lots "
        f"UNION ALL SELECT pan, {_POINTS}, 0, points FROM journal WHERE points != 0 "
        f"UNION ALL SELECT pan, {_SV}, 0, sv FROM journal WHERE sv != 0"
        ") GROUP BY pan, kind HAVING SUM(a) != SUM(b) LIMIT 20"
    ):
        problems.append(_card_problem(pan, kind, lots_sum, journal_sum))
    problems += check_batch_totals(conn)
    return problems


def check_batch_totals(conn: sqlite3.Connection) -> list[str]:
    """`batch_totals` against the journal: what a 0500 is compared with is what happened.
    (A database from before migration 7 has none yet: its first start-up fills them.)"""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'batch_totals'").fetchone() is None:
        return []
    cols = ", ".join(f"b.{c}" for c in _TOTALS_COLUMNS)
    stored = {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(
        f"SELECT b.terminal_id, b.batch, {cols} FROM batch_totals b")}
    problems = []
    for row in conn.execute(_JOURNAL_BATCH_TOTALS):
        key, journal = (row[0], row[1]), tuple(row[2:])
        got = stored.pop(key, (0,) * len(_TOTALS_COLUMNS))
        if got != journal:
            problems.append(f"batch {key[0]}/{key[1]}: totals {got} but the journal's {journal}")
    problems += [f"batch {k[0]}/{k[1]}: totals {v} but the journal has no such batch"
                 for k, v in stored.items() if any(v)]
    return problems[:20]


def check_checkpoint(conn: sqlite3.Connection) -> list[str]:
    """The verified checkpoint against the whole history up to it (for `lps check --full`):
    each recorded sum is what the rows up to J still add up to. Run in one snapshot."""
    problems = []
    assert not conn.in_transaction
    conn.execute("BEGIN")
    try:
        upto = verified_upto(conn)
        for lot_id, recorded, moved in conn.execute(
            "SELECT lot_id, SUM(a), SUM(b) FROM (SELECT lot_id, moved a, 0 b FROM verified_lots "
            "UNION ALL SELECT lot_id, 0, delta FROM lot_moves WHERE journal_id <= ?) "
            "GROUP BY lot_id HAVING SUM(a) != SUM(b) LIMIT 20", (upto,)
        ):
            problems.append(f"verified lot {lot_id}: checkpoint records {recorded} but its moves "
                            f"up to journal #{upto} sum to {moved}")
        for pan, kind, recorded, summed in conn.execute(
            "SELECT pan, kind, SUM(a), SUM(b) FROM (SELECT pan, kind, total a, 0 b FROM "
            f"verified_cards UNION ALL SELECT pan, {_POINTS}, 0, points FROM journal "
            f"WHERE id <= :upto AND points != 0 UNION ALL SELECT pan, {_SV}, 0, sv FROM journal "
            "WHERE id <= :upto AND sv != 0) GROUP BY pan, kind HAVING SUM(a) != SUM(b) LIMIT 20",
            {"upto": upto}
        ):
            problems.append(f"verified card {pan[:6]}...{pan[-4:]}: checkpoint records {kind} "
                            f"{recorded} but its journal up to #{upto} sums to {summed}")
    finally:
        conn.execute("COMMIT")
    return problems


# -- rows a decision needs (`SqliteStore.fetch`) ------------------------------------------------

_LOT_COLUMNS = ("id, pan, kind, store_id, coalition_id, earned_on, expires_on, initial, "
                "remaining")


def _lot(row: Sequence[Any]) -> Lot:
    lid, pan, kind, store, coalition, earned, expires, initial, remaining = row
    return Lot(lid, pan, kind, store, coalition, dt.date.fromisoformat(earned),
               dt.date.fromisoformat(expires) if expires else None, initial, remaining)


def _batch_totals(conn: sqlite3.Connection, terminal_id: str, batch: str) -> Totals | None:
    row = conn.execute(
        f"SELECT {', '.join(_TOTALS_COLUMNS)} FROM batch_totals WHERE terminal_id = ? "
        "AND batch = ?", (terminal_id, batch)).fetchone()
    return Totals(*row) if row is not None else None


def _journal_entry(conn: sqlite3.Connection, journal_id: int) -> E.Entry | None:
    """A journal row as the `Entry` that wrote it, with its lot moves naming each lot in full
    (what a reversal undoes, or the lots an earn made), without its stored reply."""
    row = conn.execute(
        "SELECT at, business_day, kind, mti, pc, terminal_id, store_id, coalition_id, pan, "
        "stan, transmission, rrn, amount, points, sv, response_code, batch, digest, "
        "original_id, original_stan, original_transmission, detail FROM journal WHERE id = ?",
        (journal_id,)).fetchone()
    if row is None:
        return None
    (at, day, kind, mti, pc, tid, store, coalition, pan, stan, de7, rrn, amount, points, sv,
     rc, batch, digest, original_id, ostan, ode7, detail) = row
    cols = ", ".join(f"l.{c.strip()}" for c in _LOT_COLUMNS.split(","))
    moves = [E.LotDelta(_lot(r[1:]), r[0]) for r in conn.execute(
        f"SELECT m.delta, {cols} FROM lot_moves m JOIN lots l ON l.id = m.lot_id "
        "WHERE m.journal_id = ? ORDER BY m.rowid", (journal_id,))]
    return E.Entry(
        id=journal_id, at=dt.datetime.fromisoformat(at), business_day=dt.date.fromisoformat(day),
        kind=kind, mti=mti or "", pc=pc or "", terminal_id=tid or "", store_id=store or "",
        coalition_id=coalition or "", pan=pan or "", stan=stan or "", transmission=de7 or "",
        rrn=rrn or "", amount=amount, points=points, sv=sv, response_code=rc or "",
        batch=batch or "", digest=digest or "", original_id=original_id,
        original_key=(tid or "", ostan, ode7) if ostan is not None else None,
        detail=json.loads(detail) if detail else {}, lot_deltas=moves)


def _returned(conn: sqlite3.Connection, journal_id: int) -> Returned:
    """The approved returns against earn `journal_id`, and which of them (or it) an approved
    reversal undid."""
    returns = tuple(ReturnRow(r[0], r[1], -r[2]) for r in conn.execute(
        f"SELECT id, amount, points FROM journal WHERE kind = {sql_text(Kind.RETURN)} AND "
        f"response_code = {_OK} AND original_id = ? ORDER BY id", (journal_id,)))
    targets = [journal_id, *(r.journal_id for r in returns)]
    undone = frozenset(oid for oid, detail in conn.execute(
        f"SELECT original_id, detail FROM journal WHERE kind = {sql_text(Kind.REVERSAL)} AND "
        f"response_code = {_OK} AND original_id IN ({','.join('?' * len(targets))})",
        targets) if _undone(detail))
    return Returned(returns, undone)


class SqliteStore:
    """The journal in one SQLite file. Not thread-safe: one writer thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self.version = migrate(self.conn)
        self.report = RecoveryReport()
        self._read_conn: sqlite3.Connection | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        # Checkpoint advances verified by the checkpoint thread, applied by the writer inside
        # its next transaction (no second writer, no extra fsync): (after, upto).
        self._verified_lock = threading.Lock()
        self._pending: tuple[int, int] | None = None
        self._applying: tuple[int, int] | None = None
        self._verify_failed = False
        self._loaded_lots = self._loaded_txns = 0

    def close(self) -> None:
        if self._read_conn is not None:
            self._read_conn.close()
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        self.conn.close()

    def checkpoint_in_background(self) -> None:
        """Take WAL checkpoints off the commit path: the caller runs `checkpoint` itself.

        SQLite's automatic checkpoint runs inside whichever COMMIT crosses 1,000 WAL pages,
        copying pages into the database and fsyncing it while every answer of that batch
        waits. Durability does not depend on it (a commit is durable once the WAL is synced).
        """
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpoint_conn = connect(self.path)
        self._checkpoint_conn.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE checkpoint on its own connection (never blocks the writer): SQLite's
        (busy, WAL frames, frames checkpointed)."""
        assert self._checkpoint_conn is not None, "checkpoint_in_background() first"
        row = self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.verify_tail()
        return int(row[0]), int(row[1]), int(row[2])

    def verify_tail(self) -> None:
        """Verify the rows committed since the checkpoint and hand the advance to the writer.

        Runs on the checkpoint thread's connection (a read snapshot; SQLite releases the GIL).
        A violation is logged and stops further advances, so the next start-up checks those
        rows again and refuses to open. Never raises: WAL checkpoints must go on.
        """
        conn = self._checkpoint_conn
        if conn is None or self._verify_failed:
            return
        with self._verified_lock:
            if self._pending is not None or self._applying is not None:
                return  # the writer has not committed the previous advance yet
        try:
            v = verify(conn, everything=False)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.warning("event=verify_failed database=%s error=%r", self.path, exc)
            return
        if v.problems:
            self._verify_failed = True
            log.error("event=invariants_broken database=%s after=%d upto=%d problems=%r",
                      self.path, v.after, v.upto, v.problems)
            return
        if v.upto > v.after:
            with self._verified_lock:
                self._pending = (v.after, v.upto)

    def verify_and_advance(self, *, everything: bool = False) -> Verification:
        """Verify the rows after the checkpoint and, when sound, move the checkpoint to the
        newest row in a transaction of its own (start-up, tools, the benchmark's generator)."""
        conn = connect(self.path, readonly=True)
        try:
            v = verify(conn, everything=everything)
        finally:
            conn.close()
        if not v.problems and v.upto > v.after:
            self._apply_advance(v.after, v.upto)
        return v

    def _apply_advance(self, after: int, upto: int) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            _advance(conn, after, upto)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- writing ------------------------------------------------------------------------------

    def append(self, entries: Sequence[E.Entry]) -> None:
        """One transaction for the whole batch: all of it is durable, or none of it."""
        journal = []
        lots = []
        moves = []
        deltas = []
        cards = []
        terminals = []
        clubs: list[ClubRows] = []
        keys: list[tuple[Any, ...]] = []
        pins: list[tuple[Any, ...]] = []
        totals: list[tuple[Any, ...]] = []
        for e in entries:
            okey = e.original_key
            detail = _security_rows(e, keys, pins) if e.detail else None
            journal.append((
                e.id, e.at.isoformat(), e.business_day.isoformat(), e.kind, e.mti, e.pc,
                e.terminal_id, e.store_id, e.coalition_id, e.pan, e.stan, e.transmission, e.rrn,
                e.amount, e.points, e.sv, e.response_code, e.batch, e.digest, e.original_id,
                okey[1] if okey else None, okey[2] if okey else None,
                message_to_json(e.response) if e.response is not None else None,
                json.dumps(detail, separators=(",", ":")) if detail else None,
            ))
            for n in e.new_lots:
                lots.append((n.id, n.pan, n.kind, n.store, n.coalition, n.earned_on.isoformat(),
                             n.expires_on.isoformat() if n.expires_on else None, n.initial, 0,
                             e.id))
            for d in e.lot_deltas:
                moves.append((e.id, d.lot_id, d.pan, d.kind, d.store, d.delta))
                deltas.append((d.delta, d.lot_id))
            if e.card is not None:
                c = e.card
                cards.append((c.pan, c.coalition, c.status, c.enrolled_on.isoformat()))
            if e.terminal is not None:
                t = e.terminal
                terminals.append((t.id, t.store, int(t.signed_on)))
            if e.club is not None:
                clubs.append(e.club)
            if e.totals is not None:
                td = e.totals
                totals.append((td.terminal_id, td.batch, td.credits, td.credit_amount,
                               td.credit_reversals, td.credit_reversal_amount, td.debits,
                               td.debit_amount, td.debit_reversals, td.debit_reversal_amount))
        conn = self.conn
        with self._verified_lock:
            advance, self._pending = self._pending, None
            self._applying = advance
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if journal:
                    # Append-only in id order: what the verified checkpoint rests on.
                    last = conn.execute("SELECT MAX(id) FROM journal").fetchone()[0] or 0
                    ids = [row[0] for row in journal]
                    if ids[0] <= last or any(a >= b for a, b in itertools.pairwise(ids)):
                        raise StoreError(f"{self.path}: journal ids {ids[0]}..{ids[-1]} do not "
                                         f"follow the last committed id {last} in order")
                conn.executemany(_JOURNAL_SQL, journal)
                if cards:
                    conn.executemany(
                        "INSERT INTO cards (pan, coalition_id, status, enrolled_on) "
                        "VALUES (?,?,?,?) ON CONFLICT(pan) DO UPDATE SET status=excluded.status",
                        cards)
                if lots:
                    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
                if moves:
                    conn.executemany("INSERT INTO lot_moves VALUES (?,?,?,?,?,?)", moves)
                    conn.executemany(
                        "UPDATE lots SET remaining = remaining + ? WHERE id = ?", deltas)
                if terminals:
                    conn.executemany(
                        "INSERT INTO terminals (id, store_id, signed_on) VALUES (?,?,?) "
                        "ON CONFLICT(id) DO UPDATE SET store_id=excluded.store_id, "
                        "signed_on=excluded.signed_on", terminals)
                if clubs:
                    write_club_rows(conn, clubs)
                if totals:
                    conn.executemany(_TOTALS_SQL, totals)
                if keys:
                    # A NULL leaves a column as it was: a key exchange keeps the TMK.
                    sets = ", ".join(f"{c}=COALESCE(excluded.{c}, {c})" for c in _KEY_COLUMNS)
                    conn.executemany(
                        f"INSERT INTO terminal_keys (terminal_id, updated_at, "
                        f"{', '.join(_KEY_COLUMNS)}) VALUES (?,?,{','.join('?' * 8)}) "
                        f"ON CONFLICT(terminal_id) DO UPDATE SET {sets}, "
                        "updated_at=excluded.updated_at", keys)
                if pins:
                    conn.executemany(
                        "INSERT INTO card_pins (pan, pin, tries, updated_at) VALUES (?,?,?,?) "
                        "ON CONFLICT(pan) DO UPDATE SET pin=COALESCE(excluded.pin, pin), "
                        "tries=excluded.tries, updated_at=excluded.updated_at", pins)
                if advance is not None:
                    self._advance_in(conn, *advance)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: commit failed: {exc}") from exc
        finally:
            with self._verified_lock:
                self._applying = None

    def _advance_in(self, conn: sqlite3.Connection, after: int, upto: int) -> None:
        """The checkpoint's advance inside the writer's transaction, in a savepoint: an error
        there costs the advance (logged; start-up checks those rows), never the batch."""
        conn.execute("SAVEPOINT verified")
        try:
            _advance(conn, after, upto)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO verified")
            self._verify_failed = True
            log.warning("event=verify_advance_failed database=%s error=%r", self.path, exc)
        conn.execute("RELEASE verified")

    # -- reading ------------------------------------------------------------------------------

    def business_day(self, day: dt.date) -> Iterator[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT * FROM journal WHERE business_day = ? ORDER BY id", (day.isoformat(),))
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

    def _check_into(self, out: list[Verification | BaseException]) -> None:
        conn = connect(self.path, readonly=True)
        try:
            out.append(verify(conn, everything=True))
        except BaseException as exc:  # handed to the loading thread, which raises it
            out.append(exc)
        finally:
            conn.close()

    def check_invariants(self, conn: sqlite3.Connection | None = None) -> list[str]:
        """The full check over the whole history (`check_invariants` below)."""
        return check_invariants(conn or self.conn)

    def fetch(self, needs: Needs, checks: Checks = NO_CHECKS) -> Facts:
        """The committed journal rows a decision needs (`core.needs`), with `checks`.

        Called on the event loop right before the decision; only committed rows are read, and
        `core.needs` never asks for one that is still in memory (`State.uncommitted`), so the
        two never disagree.
        """
        if not needs.journal:
            return Facts(needs, checks)
        conn = self._reader()
        reply = original = original_totals = earn = totals = None
        returned = NOTHING_RETURNED
        if needs.reply is not None:
            row = conn.execute("SELECT response FROM journal WHERE id = ?",
                               (needs.reply,)).fetchone()
            reply = message_from_json(row[0]) if row is not None and row[0] else None
        if needs.original is not None:
            original = _journal_entry(conn, needs.original)
            if original is not None:  # no row: nothing counted in that batch yet
                original_totals = _batch_totals(conn, original.terminal_id,
                                                original.batch) or Totals()
        if needs.earn is not None:
            earn = _journal_entry(conn, needs.earn)
            returned = _returned(conn, needs.earn)
        if needs.totals is not None:
            totals = _batch_totals(conn, *needs.totals)
        return Facts(needs, checks, reply, original, original_totals, earn, returned, totals)

    def security_rows(self) -> int:
        """How many keys and PINs are stored under an LMK (a new LMK would orphan them)."""
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM terminal_keys) + (SELECT COUNT(*) FROM card_pins)"
        ).fetchone()
        return int(row[0])

    def _reader(self) -> sqlite3.Connection:
        """A second connection for reads on the event loop's thread (the writer has its own)."""
        if self._read_conn is None:
            self._read_conn = connect(self.path, readonly=True)
        return self._read_conn

    def load(self, config: Config, rules: RuleBook | None, now: dt.datetime) -> State:
        """Recovery: cards, live lots, the recent transactions, then the invariants."""
        import time

        started = time.perf_counter()
        # The invariant scan is SQLite work (it releases the GIL): run it on its own connection
        # while this thread builds the cache, and open nothing before both are done.
        checked: list[Verification | BaseException] = []
        checker = threading.Thread(target=self._check_into, args=(checked,),
                                   name="lps-invariants")
        checker.start()
        # Millions of objects and no garbage: the cyclic GC would only rescan them, again and
        # again (the server tunes it for serving afterwards).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            state = self._load_cache(config, rules, now)
        finally:
            if gc_was_enabled:
                gc.enable()
        q = self.conn.execute
        cards = state.cards
        checker.join()
        result = checked[0]
        if isinstance(result, BaseException):
            raise RecoveryError(f"{self.path}: invariant check failed: {result}") from result
        if result.problems:
            raise RecoveryError(f"{self.path}: invariants broken: " + "; ".join(result.problems))
        if result.upto > result.after:  # checked: the next start-up starts from here
            try:
                self._apply_advance(result.after, result.upto)
            except sqlite3.Error as exc:  # the checkpoint stays where it was: still sound
                log.warning("event=verify_advance_failed database=%s error=%r", self.path, exc)
        state.next_journal_id = (q("SELECT MAX(id) FROM journal").fetchone()[0] or 0) + 1
        state.next_lot_id = (q("SELECT MAX(id) FROM lots").fetchone()[0] or 0) + 1
        state.durable_upto = state.next_journal_id - 1
        self.report = RecoveryReport(
            cards=len(cards), lots=self._loaded_lots, transactions=self._loaded_txns,
            journal_entries=state.next_journal_id - 1,
            seconds=time.perf_counter() - started,
        )
        return state

    def _first_recent(self, first_day: dt.date, today: dt.date) -> int:
        """The first journal id of a business day from `first_day` on (or beyond the end).

        One indexed look-up per day: `MIN(id) ... WHERE business_day >= ?` makes SQLite walk
        the table in id order from the start (measured: 1.8 s for 10M rows)."""
        q = self.conn.execute
        found = []
        day = first_day
        while day <= today:
            found.append(q("SELECT MIN(id) FROM journal WHERE business_day = ?",
                           (day.isoformat(),)).fetchone()[0])
            day += dt.timedelta(days=1)
        found.append(q("SELECT MIN(id) FROM journal INDEXED BY journal_day "
                       "WHERE business_day > ?", (today.isoformat(),)).fetchone()[0])
        return min((i for i in found if i is not None), default=1 << 62)

    def _load_cache(self, config: Config, rules: RuleBook | None, now: dt.datetime) -> State:
        state = new_state(config, rules)
        q = self.conn.execute
        cards = state.cards
        # One object per distinct string and date: a million cards share a handful of them.
        shared: dict[Any, Any] = {}
        intern = shared.setdefault
        dates: dict[str, dt.date] = {}

        def day_of(text: str) -> dt.date:
            d = dates.get(text)
            if d is None:
                d = dates[text] = dt.date.fromisoformat(text)
            return d

        for pan, coalition, status, enrolled in q(
            "SELECT pan, coalition_id, status, enrolled_on FROM cards"
        ):
            cards[pan] = Card(pan, intern(coalition, coalition), intern(status, status),
                              dates.get(enrolled) or day_of(enrolled))
        cfg = config.switch
        today = business_day(now, cfg.zone, cfg.business_day_cutover)
        first_recent = self._first_recent(
            today - dt.timedelta(days=cfg.idempotency_days + 1), today)

        get_card = cards.get
        loaded = 0
        # The live lots. When most lots are live (a young database, the benchmark's), reading
        # the table in order beats the partial index's look-ups; when most are spent, not.
        live = q("SELECT COUNT(*) FROM lots WHERE remaining != 0").fetchone()[0]
        whole = q("SELECT COALESCE(MAX(id), 0) FROM lots").fetchone()[0]
        source = "lots NOT INDEXED" if 3 * live > whole else "lots INDEXED BY lots_live"
        for lid, pan, kind, store, coalition, earned, expires, initial, remaining in q(
            f"SELECT {_LOT_COLUMNS} FROM {source} WHERE remaining != 0"
        ):
            card = get_card(pan)
            if card is None:
                continue
            lot = Lot(lid, card.pan, intern(kind, kind), intern(store, store),
                      intern(coalition, coalition), dates.get(earned) or day_of(earned),
                      (dates.get(expires) or day_of(expires)) if expires else None, initial,
                      remaining)
            loaded += 1
            (card.lots if kind == POINTS else card.purse).append(lot)
        self._loaded_lots = loaded

        # The requests of the idempotency window, compact (`Remembered`): the reply, the lot
        # moves and the rest stay in the journal, read back when a request names them.
        keys: dict[int, TxnKey] = {}
        txns = state.txns
        for (jid, day, kind, tid, stan, de7, rc, digest, original_id, ostan, ode7,
             detail) in q(
            "SELECT id, business_day, kind, terminal_id, stan, transmission, response_code, "
            "digest, original_id, original_stan, original_transmission, detail FROM journal "
            f"WHERE id >= ? AND kind NOT IN {sql_list(UNREMEMBERED_KINDS)} ORDER BY id",
            (first_recent,)
        ):
            key = txn_key(tid, stan, de7)
            flags = (APPROVED if rc == RC.APPROVED else 0) | \
                (0 if kind in NOT_REVERSIBLE else REVERSIBLE)
            txns[key] = Remembered(bytes.fromhex(digest or ""), jid,
                                   dates.get(day) or day_of(day), flags).packed()
            keys[jid] = key
            if kind == Kind.REVERSAL:
                if rc == RC.ORIGINAL_NOT_FOUND:
                    state.tombstones[txn_key(tid, ostan, ode7)] = jid
                elif rc == RC.APPROVED and original_id in keys and _undone(detail):
                    txns[keys[original_id]] |= REVERSED
        self._loaded_txns = len(keys)
        load_clubs(q, cards, today)
        for tid, store, signed_on in q("SELECT id, store_id, signed_on FROM terminals"):
            term = state.terminals.get(tid)
            if term is not None and term.store == store:
                term.signed_on = bool(signed_on)
        for tid, tmk, mac, pin, bdk in q(
            "SELECT terminal_id, tmk, mac, pin, bdk FROM terminal_keys"
        ):
            term = state.terminals.get(tid)
            if term is not None:
                term.tmk_ref, term.mac_key_ref, term.pin_key_ref, term.bdk_ref = tmk, mac, pin, bdk
        for pan, pin, tries in q("SELECT pan, pin, tries FROM card_pins"):
            if pan in cards:
                cards[pan].pin_ref, cards[pan].pin_tries = pin, tries
        return state
