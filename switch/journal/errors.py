"""The journal's errors: each is one line that names the database and what is wrong."""

from __future__ import annotations


class JournalError(RuntimeError):
    """The journal cannot be written or read: the switch must stop, a command refuses."""


class RecoveryError(JournalError):
    """The database breaks an invariant money depends on; the switch refuses to start."""
