"""Maker-checker's steps shared by point adjustments and card replacements (docs/console.md,
"Card changes go through the switch"): a request recorded with its audit row in one
transaction; a checker's decision that first claims the request (`pending` -> `applying` in one
UPDATE, so two checkers, in one process or two workers, never apply it twice), applies it, then
records it with its audit row; if applying fails, the request goes back to pending with the
reason, kept so that each reader reads it in their own language."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lps.console import audit, queries, switch_words
from lps.console.messages import N_, SYSTEM, Label, Refusal, Verbatim, from_json

#: The request kinds (the audit's action prefix) and their tables: never a typed name.
TABLES = {"adjustment": "adjustments", "replacement": "replacements"}
#: The review columns every maker-checker table has (lps/console/db.py), in `Reviewed`'s order.
REVIEW_COLUMNS = ("maker", "made_at", "status", "checker", "decided_at", "error")
#: Each kind's refusals of a decision, in the words its page uses for a request.
DECIDED_ALREADY = {"adjustment": N_("adjustment #{id} is {status} already"),
                   "replacement": N_("card replacement #{id} is {status} already")}
BEING_DECIDED = {"adjustment": N_("adjustment #{id} is being decided by someone else"),
                 "replacement": N_("card replacement #{id} is being decided by someone else")}


@dataclass(frozen=True, slots=True)
class Reviewed:
    """Who asked for a change and who decided it: the fields a request's table starts with when
    read as `SELECT <REVIEW_COLUMNS>, <its own columns>`."""

    maker: str
    made_at: str
    status: str
    checker: str | None
    decided_at: str | None
    #: Why the last approval failed, a stored message (messages.to_json), or None.
    error: str | None

    @property
    def last_error(self) -> Refusal | None:
        """The last error as a message in the reader's language."""
        return stored_error(self.error)


def select(kind: str, columns: Sequence[str]) -> str:
    """`SELECT` of a request's review columns, then `columns`, from its table."""
    return f"SELECT {', '.join((*REVIEW_COLUMNS, *columns))} FROM {TABLES[kind]}"


def why(exc: BaseException) -> Refusal:
    """Why applying failed, as a message each reader reads in their language."""
    if isinstance(exc, Refusal):
        return exc
    if isinstance(exc, queries.QueryError):
        return switch_words.database(str(exc))
    return Refusal(N_("{message}"), message=Verbatim(str(exc)[:500], SYSTEM))


def stored_error(text: str | None) -> Refusal | None:
    """A request's last error (`why`, stored as JSON) in the reader's language; a row stored
    as plain text by an older console is shown as recorded."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    return from_json(data)


def record(cdb: sqlite3.Connection, kind: str, columns: Sequence[str], values: Sequence[Any],
           at: str, who: str, status: str, target: str, after: dict[str, Any]) -> int:
    """Insert the request, made by `who` at `at` (and decided by them when `status` is
    `applied`: a change under the threshold), and its audit row (`KIND.STATUS`, `after` plus
    its id) at once."""
    table = TABLES[kind]
    done = status == "applied"
    columns = (*columns, "maker", "made_at", "status", "checker", "decided_at")
    values = (*values, who, at, status, who if done else None, at if done else None)
    cdb.execute("BEGIN IMMEDIATE")
    try:
        cur = cdb.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                          f"({', '.join('?' * len(columns))})", tuple(values))
        rid = int(cur.lastrowid or 0)
        audit.append(cdb, at, f"staff:{who}", f"{kind}.{status}", target, None,
                     {kind: rid, **after})
        cdb.execute("COMMIT")
    except BaseException:
        cdb.execute("ROLLBACK")
        raise
    return rid


def decide(cdb: sqlite3.Connection, kind: str, rid: int, request: Reviewed, approve: bool,
           apply: Callable[[], None], error: type[Refusal], at: str, who: str,
           target: str) -> None:
    """The checker's step on request `rid` (read as `request`): refused with `error` when it is
    decided already or `who` made it (never the maker); otherwise claim it, run `apply` when
    approving, record the decision (audited)."""
    if request.status != "pending":
        raise error(DECIDED_ALREADY[kind], id=rid, status=Label(request.status))
    if request.maker == who:
        raise error(N_("you made this request: another staff member must approve or "
                       "reject it"))
    table = TABLES[kind]
    claimed = cdb.execute(f"UPDATE {table} SET status = 'applying' WHERE id = ? AND "
                          "status = 'pending'", (rid,)).rowcount
    if claimed != 1:
        raise error(BEING_DECIDED[kind], id=rid)
    try:
        if approve:
            apply()
    except BaseException as exc:
        cdb.execute(f"UPDATE {table} SET status = 'pending', error = ? WHERE id = ?",
                    (json.dumps(why(exc).to_json(), ensure_ascii=False), rid))
        raise
    status = "applied" if approve else "rejected"
    cdb.execute("BEGIN IMMEDIATE")
    try:
        cdb.execute(f"UPDATE {table} SET status = ?, checker = ?, decided_at = ?, "
                    "error = NULL WHERE id = ? AND status = 'applying'", (status, who, at, rid))
        audit.append(cdb, at, f"staff:{who}", f"{kind}.{status}", target,
                     {kind: rid, "status": "pending"},
                     {kind: rid, "status": status, "maker": request.maker})
        cdb.execute("COMMIT")
    except BaseException:
        cdb.execute("ROLLBACK")
        raise
