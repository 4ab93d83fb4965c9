"""What a PostgreSQL connection string says, and how failures name it without its secrets.

The journal's sessions (`switch.pgconn`) and its connection checks (`switch.journal.postgres`)
both parse a string here: LPS's defaults added (docs/deploy.md §Connection), a read-only
target refused, and a printable `Target` that never quotes the string (libpq's parse errors
quote pieces of it, passwords included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["CONNECTION_DEFAULTS", "InvalidConnectionString", "PgError", "Target", "one_line",
           "parse_conninfo"]

WRITABLE_ATTRS = ("read-write", "primary")

# Added to a connection string that does not set them (docs/deploy.md §Connection): find the
# writable server, give up on a silent host in seconds, and notice a dead peer within ~20 s
# instead of the kernel's quarter of an hour for unacknowledged data.
CONNECTION_DEFAULTS = {
    "target_session_attrs": "read-write",
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
    "application_name": "lps-switch",
}


class PgError(Exception):
    """A database failure the caller must act on; the message is one line, without secrets."""


class InvalidConnectionString(PgError, ValueError):
    """The string is neither a postgresql:// URL nor a conninfo LPS can use."""


@dataclass(frozen=True)
class Target:
    """Where a connection string points, fit to print: user, hosts and ports, database."""

    user: str
    hosts: tuple[str, ...]
    ports: tuple[str, ...]
    dbname: str

    def __str__(self) -> str:
        # libpq: one port for every host, or one port per host
        ports = self.ports * len(self.hosts) if len(self.ports) == 1 else self.ports
        places = ",".join(f"{host}:{port}" if port else host
                          for host, port in zip(self.hosts, ports, strict=False))
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{places}/{self.dbname}"


def parse_conninfo(conninfo: str) -> tuple[dict[str, str], Target]:
    """The connection parameters with LPS's defaults added, and where they point.

    Raises InvalidConnectionString, whose message never quotes the string.
    """
    try:
        params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items()}
    except psycopg.ProgrammingError:
        raise InvalidConnectionString(
            "invalid database connection string: expected postgresql://user@host:port/db "
            "or key=value pairs such as host=a,b port=5432,5432 dbname=lps") from None
    attrs = params.get("target_session_attrs", "read-write")
    if attrs not in WRITABLE_ATTRS:
        raise InvalidConnectionString(
            f"target_session_attrs={attrs} would let the journal land on a read-only server; "
            "use read-write or primary")
    params = {**CONNECTION_DEFAULTS, **params}
    target = Target(
        user=params.get("user", ""),
        hosts=tuple(params.get("host", "localhost").split(",")),
        ports=tuple(params.get("port", "5432").split(",")),
        dbname=params.get("dbname", params.get("user", "")),
    )
    return params, target


_ATTEMPT = re.compile(r'connection to server (?:at "([^"]*)", port (\d+)|on socket "([^"]*)") '
                      r"failed: (.*)")


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """libpq's multi-line failure report as one line: `host:port reason; host:port reason`."""
    lines = [line.strip() for line in str(exc).splitlines() if not line.startswith("\t")]
    attempts = [line[2:] for line in lines if line.startswith("- ")] or lines[:1] or ["?"]
    parts = []
    for attempt in attempts:
        found = _ATTEMPT.search(attempt)
        if found:
            host, port, socket_path, reason = found.groups()
            place = f"{host}:{port}" if host else socket_path
            parts.append(f"{place} {reason.strip()}")
        else:
            parts.append(attempt.removeprefix("connection failed: "))
    text = "; ".join(dict.fromkeys(parts))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())
