"""`ApswReader`: the SQLite journal read-only through apsw, for a process that opens the journal
through it alone (settlement's reader processes: `open_scan_reader`).

apsw hands the same rows as the standard library's `sqlite3` module (the same Python values
for the same SQL) at some 40 % less CPU a row: 1.80 against 2.95-3.08 s for the 1.29M entries
of 20 chunks, 1.09 against 1.86-1.90 s for their 1.44M lot moves (benches/README.md, "Reads
through apsw, thirteenth session"). It brings its own copy of SQLite, and two copies of SQLite
must never hold the same database open in one process: POSIX locks belong to the process, so
one copy closing its file would drop the other's locks (https://sqlite.org/howtocorrupt.html,
section 2.2.1). Hence only a process that opens the journal through this reader alone uses
it; the switch and the processes that hold a `SqliteReader` keep `sqlite3`.
"""

from __future__ import annotations

import apsw

from switch.filemode import check_private
from switch.journal.errors import JournalError
from switch.journal.sqlite.reader import FileReader

#: As the switch's connections wait for a lock (switch/journal/sqlite/connect.py).
BUSY_TIMEOUT_MS = 5000


class ApswReader(FileReader):
    """The journal in one SQLite file, read-only, through apsw."""

    driver_errors = (apsw.Error,)
    open_errors = (apsw.Error,)
    conn: apsw.Connection

    def _open(self) -> apsw.Connection:
        check_private(self.path, JournalError)
        conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
        conn.set_busy_timeout(BUSY_TIMEOUT_MS)
        return conn
