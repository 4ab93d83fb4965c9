"""The journal's errors: each is one line that names the database and what is wrong."""

from __future__ import annotations


class JournalError(RuntimeError):
    """The journal cannot be written or read: the switch must stop, a command refuses."""


class EmptyDatabase(JournalError):
    """The database holds no table at all: no LPS has started on it yet (a PostgreSQL database
    just created; for SQLite, a file of zero bytes), so there is nothing to read."""


class RecoveryError(JournalError):
    """The database breaks an invariant money depends on; the switch refuses to start."""
