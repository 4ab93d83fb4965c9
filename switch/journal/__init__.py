"""The switch's journal: the one package that speaks SQL to the switch's database.

Schema and migrations, the group commit (`append`), recovery (`load`) and the verified
checkpoint, the rows one decision reads (`fetch`), the checks of `lps check`, and the read API
that settlement, reports, the console and the commands use, behind typed protocols
(`Journal`, `JournalReader`, `Outbox`) so that another engine can be added without touching
their users. docs/switch.md, "The journal package", has the module map.
"""

from switch.journal.engine import (
    open_customers,
    open_journal,
    open_outbox,
    open_reader,
    open_scan_reader,
    postgres_conninfo,
    sqlite_path,
)
from switch.journal.errors import EmptyDatabase, JournalError, RecoveryError
from switch.journal.protocol import (
    CardReader,
    DayReader,
    FigureReader,
    Journal,
    JournalReader,
    Outbox,
    SharedJournal,
)
from switch.journal.receipts import Receipt
from switch.journal.reports import CheckResult, RecoveryReport, Verification
from switch.journal.rows import DayFigures, Draw, JournalRow, KeyCheckValues, OutboxRow

__all__ = [
    "CardReader",
    "CheckResult",
    "DayFigures",
    "DayReader",
    "Draw",
    "EmptyDatabase",
    "FigureReader",
    "Journal",
    "JournalError",
    "JournalReader",
    "JournalRow",
    "KeyCheckValues",
    "Outbox",
    "OutboxRow",
    "Receipt",
    "RecoveryError",
    "RecoveryReport",
    "SharedJournal",
    "Verification",
    "open_customers",
    "open_journal",
    "open_outbox",
    "open_reader",
    "open_scan_reader",
    "postgres_conninfo",
    "sqlite_path",
]
