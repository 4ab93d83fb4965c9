"""The operator console: staff roles, an append-only audit log and server-rendered pages.

It lives beside the switch on the same SQLite database (its own tables, its own migrations in
`console_migrations`) and changes cards only through the switch's own paths. See docs/console.md.
"""
