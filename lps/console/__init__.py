"""The operator console: staff roles, an append-only audit log and server-rendered pages.

It reads the money journal through the journal's read API (SQLite or PostgreSQL), keeps its
own SQLite database beside the switch's (lps/console/db.py) and changes cards only through the
switch's own paths. See docs/console.md.
"""
