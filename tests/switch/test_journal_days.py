"""The journal's day reads settlement relies on (switch/journal/sql/days.py), on both engines
(tests/engines.py): the first id of the days from a given one on, where a row's business day
does not always grow with its id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from switch.journal.engine import open_journal, open_reader

#: (journal id, business day): an advice of the 3rd committed after the 4th had begun, a day
#: (the 5th) without rows, a late row of the 2nd after the 6th's first.
ROWS = ((3, "2026-03-01"), (4, "2026-03-01"), (7, "2026-03-02"), (8, "2026-03-04"),
        (9, "2026-03-03"), (10, "2026-03-04"), (12, "2026-03-06"), (13, "2026-03-02"),
        (15, "2026-03-06"))


def _journal_of(settings: dict[str, Any]) -> str:
    database = settings.get("journal_url") or settings["database"]
    from tests.engines import raw

    journal = open_journal(database)
    try:
        conn = raw(journal)
        for jid, day in ROWS:
            conn.execute(
                "INSERT INTO journal (id, at, business_day, kind, terminal_id, amount, points, "
                "sv, response_code) VALUES (?, ?, ?, 'inquiry', 'T0000001', 0, 0, 0, '00')",
                (jid, f"{day}T10:00:00+00:00", day))  # both raw connections autocommit
    finally:
        journal.close()
    return str(database)


def test_the_first_id_from_a_day_is_the_lowest_of_every_later_day(
        journal_settings: dict[str, Any]) -> None:
    reader = open_reader(_journal_of(journal_settings))
    try:
        for offset in range(-1, 8):
            day = dt.date(2026, 3, 1) + dt.timedelta(days=offset)
            wanted = min((jid for jid, d in ROWS if d >= day.isoformat()), default=None)
            assert reader.first_id_from(day) == wanted, day
    finally:
        reader.close()
