"""Settlement's reads of business days (docs/settlement.md): the SQL under settlement's
chunked, multi-process reading, whose algorithm stays in `settlement.journal`.

Rows a digest hashes are returned as plain tuples exactly as SQLite gives them
(`DIGEST_COLUMNS`, `MOVE_COLUMNS`): the digest of a chunk is the pickle of those tuples
(`settlement.digest.items_digest`), the same from any reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

from switch.core.codes import COUNTED_KINDS, Kind, sql_list, sql_text
from switch.journal.rows import Draw, JournalRow
from switch.journal.sql.common import OK, POINTS, marks
from switch.journal.sql.db import Db
from switch.journal.sql.recover import first_recent

#: Rows read per round trip: memory stays bounded by a chunk, not by the day.
CHUNK = 50_000

#: What settling reads of an entry, as the digest hashes it (`settlement.digest.entry_item`):
#: id, kind, store, response code, original id, the original's kind.
DIGEST_COLUMNS = (
    "j.id, j.kind, COALESCE(j.store_id, ''), COALESCE(j.response_code, ''), j.original_id, "
    "COALESCE(o.kind, '')"
)
#: An entry whole, as `journal_row` makes a `JournalRow` of it: text never NULL.
ENTRY_COLUMNS = (
    "j.id, j.business_day, j.kind, COALESCE(j.mti, ''), COALESCE(j.pc, ''), "
    "COALESCE(j.terminal_id, ''), COALESCE(j.store_id, ''), COALESCE(j.pan, ''), j.amount, "
    "j.points, j.sv, COALESCE(j.response_code, ''), COALESCE(j.batch, ''), "
    "COALESCE(j.rrn, ''), j.original_id, COALESCE(o.kind, '')"
)
#: A lot move as the digest hashes it (`settlement.digest.draw_item`).
MOVE_COLUMNS = "journal_id, lot_id, kind, store_id, delta"
#: A 0500 as settlement reconciles it: id, terminal, store, batch, response code, detail.
CLOSE_COLUMNS = ("id, COALESCE(terminal_id, ''), COALESCE(store_id, ''), COALESCE(batch, ''), "
                 "COALESCE(response_code, ''), detail")
_WITH_ORIGINAL = "FROM journal j LEFT JOIN journal o ON o.id = j.original_id"
#: SQLite's default limit of host parameters is 999: `IN (...)` lists are cut below it.
_IN_CHUNK = 900


def journal_row(t: tuple[Any, ...], draws: tuple[Draw, ...] = ()) -> JournalRow:
    """A `JournalRow` from `ENTRY_COLUMNS` values."""
    (jid, day, kind, mti, pc, tid, store, pan, amount, points, sv, rc, batch, rrn, oid,
     okind) = t
    return JournalRow(jid, dt.date.fromisoformat(day), kind, mti, pc, tid, store, pan, amount,
                      points, sv, rc, batch, rrn, oid, okind, draws)


class DayReads:
    """Mixed into `SqlReader`: `conn` is its read-only connection."""

    conn: Db
    table_names: set[str]

    def day_size(self, day: dt.date) -> int:
        """How many journal rows the business day has (from the day index)."""
        return int(self.conn.execute("SELECT COUNT(*) FROM journal WHERE business_day = ?",
                                     (day.isoformat(),)).fetchone()[0])

    def day_bounds(self, day: dt.date) -> tuple[int, int] | None:
        """The first and last journal id of a business day (None: the day has no row)."""
        # One subquery each: a lone MIN or MAX reads one end of the day's `journal_day` range,
        # where both in one SELECT read every entry of the day (2-3 s for 10M rows).
        lo, hi = self.conn.execute(
            "SELECT (SELECT MIN(id) FROM journal WHERE business_day = ?), "
            "(SELECT MAX(id) FROM journal WHERE business_day = ?)",
            (day.isoformat(), day.isoformat())).fetchone()
        return None if lo is None else (int(lo), int(hi))

    def first_id_from(self, day: dt.date) -> int | None:
        """The first journal id of a business day from `day` on: recovery's per-day look-up
        (`first_recent`) up to the journal's last business day."""
        found = self.conn.execute("SELECT MAX(business_day) FROM journal").fetchone()[0]
        last = None if found is None else dt.date.fromisoformat(str(found))
        # `last` has rows: from any day up to it, one is found
        return None if last is None or last < day else first_recent(self.conn, day, last)

    def digest_rows(self, day: dt.date, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """`DIGEST_COLUMNS` of the day's rows with ids in [lo, hi], in id order."""
        return list(self.conn.execute(
            f"SELECT {DIGEST_COLUMNS} {_WITH_ORIGINAL} "
            "WHERE j.id BETWEEN ? AND ? AND j.business_day = ? ORDER BY j.id",
            (lo, hi, day.isoformat())).fetchall())

    def moves(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """`MOVE_COLUMNS` of the lot moves of journal ids [lo, hi], in journal order."""
        return list(self.conn.execute(
            f"SELECT {MOVE_COLUMNS} FROM lot_moves WHERE journal_id BETWEEN ? AND ? "
            "ORDER BY journal_id, rowid", (lo, hi)).fetchall())

    def closes(self, ids: Collection[int]) -> list[tuple[Any, ...]]:
        """`CLOSE_COLUMNS` of the journal rows `ids` (0500s), in id order."""
        ordered = sorted(ids)
        if not ordered:
            return []
        return list(self.conn.execute(
            f"SELECT {CLOSE_COLUMNS} FROM journal WHERE id IN ({marks(ordered)}) ORDER BY id",
            ordered).fetchall())

    def day_closes(self, day: dt.date) -> list[tuple[Any, ...]]:
        """`CLOSE_COLUMNS` of the business day's 0500s, in id order."""
        return list(self.conn.execute(
            f"SELECT {CLOSE_COLUMNS} FROM journal WHERE business_day = ? AND kind = "
            f"{sql_text(Kind.BATCH_CLOSE)} ORDER BY id", (day.isoformat(),)).fetchall())

    def lapsed(self, lot_ids: Collection[int], day: dt.date) -> list[int]:
        """Those of the points lots `lot_ids` that have expired by `day`."""
        ordered = sorted(lot_ids)
        found = []
        for i in range(0, len(ordered), _IN_CHUNK):
            part = ordered[i:i + _IN_CHUNK]
            found += [r[0] for r in self.conn.execute(
                f"SELECT id FROM lots WHERE id IN ({marks(part)}) AND kind = {POINTS} AND "
                "expires_on IS NOT NULL AND expires_on <= ?", (*part, day.isoformat()))]
        return found

    def lots_due(self, day: dt.date, skip_kinds: Collection[str]
                 ) -> Iterator[tuple[int, str, dt.date, int, int]]:
        """Points lots unusable on `day` (lapsing that day, or lapsed and moved by one of its
        rows of a kind not in `skip_kinds`): (lot, issuer, expiry, remaining at the end of the
        day before, at the end of `day`), each being now's less what later days moved."""
        sql = due_lots_sql(POINTS, skip_kinds, "l.store_id, l.expires_on")
        cur = self.conn.execute(sql, {"d": day.isoformat()})
        while rows := cur.fetchmany(CHUNK):
            for lid, store, expires, before, after in rows:
                yield lid, store, dt.date.fromisoformat(expires), before, after

    def moved_after(self, after_id: int, day: dt.date, skip_kinds: Collection[str]
                    ) -> dict[int, int]:
        """Per lot: what rows with ids above `after_id`, of business days after `day` and of
        kinds not in `skip_kinds`, moved it."""
        return dict(self.conn.execute(
            "SELECT m.lot_id, SUM(m.delta) FROM lot_moves m JOIN journal j ON j.id = m.journal_id"
            f" WHERE m.journal_id > ? AND j.business_day > ? AND j.kind NOT IN "
            f"{sql_list(skip_kinds)} GROUP BY m.lot_id", (after_id, day.isoformat())).fetchall())

    def expiring_lots(self, day: dt.date, touched: Collection[int] = ()
                      ) -> dict[int, tuple[str, dt.date, int]]:
        """Points lots expiring on `day`, and those of `touched` that expired before it: lot
        -> (issuer, expiry, remaining now)."""
        d = day.isoformat()
        found = {}
        for lid, store, expires, remaining in self.conn.execute(
            "SELECT id, store_id, expires_on, remaining FROM lots "
            f"WHERE kind = {POINTS} AND expires_on = ?", (d,)
        ):
            found[lid] = (store, dt.date.fromisoformat(expires), remaining)
        ordered = sorted(touched)
        for i in range(0, len(ordered), _IN_CHUNK):
            part = ordered[i:i + _IN_CHUNK]
            for lid, store, expires, remaining in self.conn.execute(
                f"SELECT id, store_id, expires_on, remaining FROM lots WHERE kind = {POINTS} "
                f"AND expires_on < ? AND id IN ({marks(part)})", (d, *part)
            ):
                found[lid] = (store, dt.date.fromisoformat(expires), remaining)
        return found

    def batch_rows(self, lo: int, hi: int, keys: Collection[tuple[str, str]]
                   ) -> list[JournalRow]:
        """Rows of journal ids [lo, hi] counted in the (terminal, batch) `keys`, and the
        reversals those terminals sent (the caller keeps the ones of the batches' rows)."""
        wanted = set(keys)
        terminals = sorted({tid for tid, _ in wanted})
        found: list[JournalRow] = []
        for i in range(0, len(terminals), _IN_CHUNK):
            part = terminals[i:i + _IN_CHUNK]
            for t in self.conn.execute(
                f"SELECT {ENTRY_COLUMNS} {_WITH_ORIGINAL} WHERE j.id BETWEEN ? AND ? AND "
                f"j.kind IN {sql_list((*COUNTED_KINDS, Kind.REVERSAL))} AND "
                f"j.terminal_id IN ({marks(part)})", (lo, hi, *part)
            ):
                row = journal_row(t)
                if row.kind == Kind.REVERSAL or (row.terminal_id, row.batch) in wanted:
                    found.append(row)
        return sorted(found, key=lambda row: row.id)

    def lots_at(self, day: dt.date) -> dict[str, tuple[int, int]]:
        """Per issuing store at the end of `day`: (positive remaining of lapsed points lots,
        remaining of live ones), each lot's remaining being now's less what later days moved."""
        out = {}
        for store, lapsed, live in self.conn.execute(
            f"""WITH later AS (
                 SELECT m.lot_id, SUM(m.delta) s FROM journal j
                 JOIN lot_moves m ON m.journal_id = j.id
                 WHERE j.business_day > :d GROUP BY m.lot_id)
               SELECT l.store_id,
                 SUM(CASE WHEN l.expires_on IS NOT NULL AND l.expires_on <= :d
                     AND l.remaining - COALESCE(later.s, 0) > 0
                     THEN l.remaining - COALESCE(later.s, 0) ELSE 0 END),
                 SUM(CASE WHEN l.expires_on IS NULL OR l.expires_on > :d
                     THEN l.remaining - COALESCE(later.s, 0) ELSE 0 END)
               FROM lots l LEFT JOIN later ON later.lot_id = l.id
               WHERE l.kind = {POINTS} AND l.earned_on <= :d GROUP BY l.store_id""",
            {"d": day.isoformat()},
        ):
            out[store] = (int(lapsed or 0), int(live or 0))
        return out

    def new_members(self, start: dt.date, end: dt.date, kinds: Collection[str]
                    ) -> tuple[dict[str, int], dict[str, int]]:
        """Cards whose first approved row of `kinds` at a store is in the range, per store;
        and cards enrolled in the range, per coalition."""
        s, e = start.isoformat(), end.isoformat()
        by_store = dict(self.conn.execute(
            "SELECT store_id, COUNT(*) FROM (SELECT store_id, pan, MIN(business_day) AS first "
            f"FROM journal WHERE response_code = {OK} AND pan != '' AND kind IN "
            f"{sql_list(kinds)} GROUP BY store_id, pan) AS firsts "
            "WHERE first BETWEEN ? AND ? GROUP BY store_id", (s, e)).fetchall())
        by_coalition = dict(self.conn.execute(
            "SELECT coalition_id, COUNT(*) FROM cards WHERE enrolled_on BETWEEN ? AND ? "
            "GROUP BY coalition_id", (s, e)).fetchall())
        return by_store, by_coalition

    def rows(self, start: dt.date, end: dt.date | None = None, *, draws: bool = True
             ) -> Iterator[JournalRow]:
        """The rows of business days `start`..`end` (one day without `end`), in journal
        order, with their lot moves (`draws`)."""
        params: tuple[str, ...]
        if end is None:
            where, params = "j.business_day = ?", (start.isoformat(),)
        else:
            where, params = "j.business_day BETWEEN ? AND ?", (start.isoformat(), end.isoformat())
        cur = self.conn.execute(
            f"SELECT {ENTRY_COLUMNS} {_WITH_ORIGINAL} WHERE {where} ORDER BY j.id", params)
        while chunk := cur.fetchmany(CHUNK):
            by_entry: dict[int, list[Draw]] = {}
            if draws:
                lo, hi = chunk[0][0], chunk[-1][0]
                for jid, lot_id, kind, store, delta in self.conn.execute(
                    f"SELECT {MOVE_COLUMNS} FROM lot_moves WHERE journal_id BETWEEN ? AND ? "
                    "ORDER BY journal_id, rowid", (lo, hi)
                ):
                    by_entry.setdefault(jid, []).append(Draw(lot_id, kind, store, delta))
            for t in chunk:
                yield journal_row(t, tuple(by_entry.get(t[0], ())))

    def tiered_cards(self) -> list[tuple[str, str, dt.date | None, str]]:
        """Cards holding a tier: (card, tier, since, coalition), by card number."""
        if not {"card_club", "card_spend"} <= self.table_names:
            return []
        return [(pan, tier, dt.date.fromisoformat(since) if since else None, coalition)
                for pan, tier, since, coalition in self.conn.execute(
                    "SELECT cc.pan, cc.tier, cc.tier_day, c.coalition_id FROM card_club cc "
                    "JOIN cards c ON c.pan = cc.pan WHERE COALESCE(cc.tier, '') != '' "
                    "ORDER BY cc.pan")]

    def spend(self, pans: Collection[str], after: dt.date, upto: dt.date
              ) -> Iterator[tuple[str, dt.date, int]]:
        """Qualifying spend of `pans` per business day in (after, upto]: (card, day, amount)."""
        ordered = sorted(pans)
        for i in range(0, len(ordered), _IN_CHUNK):
            part = ordered[i:i + _IN_CHUNK]
            for pan, day, amount in self.conn.execute(
                f"SELECT pan, business_day, amount FROM card_spend WHERE pan IN ({marks(part)}) "
                "AND business_day > ? AND business_day <= ? AND amount != 0",
                (*part, after.isoformat(), upto.isoformat()),
            ):
                yield pan, dt.date.fromisoformat(day), amount


def due_lots_sql(lot_kind: str, skip_kinds: Collection[str], columns: str) -> str:
    """Lots of `lot_kind` unusable on business day `:d` (lapsing that day, or lapsed and moved
    that day by a row of a kind not in `skip_kinds`): id, `columns`, remaining at the end of
    the day before, at the end of `:d`, each being now's less what later days moved. Points
    lots (`lots_due`) and gift-card lots (`RewardReads.gift_lots_due`) lapse alike."""
    others = sql_list(skip_kinds) if skip_kinds else "('')"
    moved = ("SELECT m.lot_id, SUM(m.delta) s FROM journal j JOIN lot_moves m "
             f"ON m.journal_id = j.id WHERE j.business_day {{}} :d AND m.kind = {lot_kind} "
             f"AND j.kind NOT IN {others} GROUP BY m.lot_id")
    return f"""
        WITH later AS ({moved.format(">")}), today AS ({moved.format("=")})
        SELECT l.id, {columns},
               l.remaining - COALESCE(later.s, 0) - COALESCE(today.s, 0),
               l.remaining - COALESCE(later.s, 0)
        FROM lots l LEFT JOIN later ON later.lot_id = l.id LEFT JOIN today ON today.lot_id = l.id
        WHERE l.kind = {lot_kind} AND l.expires_on IS NOT NULL AND l.expires_on <= :d
          AND (l.expires_on = :d OR today.lot_id IS NOT NULL)
        ORDER BY l.id"""
