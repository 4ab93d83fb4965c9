"""`[switch]`: listeners, database, HSM, business day, limits and TLS (docs/switch.md,
Configuration)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from switch.config.reader import Reader
from switch.core.catalog import Limits, SwitchSettings, TlsFiles

__all__ = ["database_path", "switch_settings"]

#: The bounds of `[switch] hsm_timeout`, seconds: under 50 ms a loopback HSM's answer to a
#: burst would be given up on; over a minute a silent HSM holds every MACed request that long.
HSM_TIMEOUT_BOUNDS = (0.05, 60.0)

POSTGRES_SCHEMES = ("postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
NODES = ("single", "shared")


def _hsm_timeout(r: Reader) -> float:
    low, high = HSM_TIMEOUT_BOUNDS
    seconds = r.number("hsm_timeout", 5.0, minimum=low)
    if seconds > high:
        raise r.fail("hsm_timeout", f"must be at most {high:g} seconds, got {seconds:g}")
    return seconds


def switch_settings(r: Reader) -> SwitchSettings:
    cut = r.string("business_day_cutover", "00:00")
    try:
        cutover = dt.time.fromisoformat(cut)
    except ValueError:
        raise r.fail("business_day_cutover", f"must be a time HH:MM, got {cut!r}") from None
    tz = r.time_zone("timezone", "UTC")
    hsm = r.string("hsm", "inproc")
    if hsm != "inproc" and not hsm.startswith("tcp://"):
        raise r.fail("hsm", f"must be 'inproc' or 'tcp://HOST:PORT', got {hsm!r}")
    level = r.string("log_level", "INFO").upper()
    if level not in LOG_LEVELS:
        raise r.fail("log_level", f"must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    limits = _limits(r)
    database, journal_url = _database(r)
    nodes = _nodes(r, journal_url)
    settings = SwitchSettings(
        listen_ascii=r.optional_host_port("listen_ascii"),
        listen_bcd=r.optional_host_port("listen_bcd"),
        metrics=r.optional_host_port("metrics"),
        database=database,
        journal_url=journal_url,
        nodes=nodes,
        hsm=hsm,
        hsm_timeout=_hsm_timeout(r),
        require_mac=r.boolean("require_mac", False),
        business_day_cutover=cutover,
        timezone=tz,
        idempotency_days=r.days("idempotency_days", 7, minimum=7),
        return_window_days=r.days("return_window_days", 365, minimum=1),
        replay_memory=r.integer("replay_memory", 1_000_000, minimum=1),
        log_level=level,
        limits=limits,
        lmk=Path(r.string("lmk")) if "lmk" in r.table else None,
        tls=_tls(r),
    )
    r.done()
    if settings.listen_ascii is None and settings.listen_bcd is None:
        raise r.fail("listen_ascii", "at least one of listen_ascii and listen_bcd is needed")
    return settings


def _nodes(r: Reader, journal_url: str | None) -> str:
    """`[switch] nodes`: `shared` only on PostgreSQL (an SQLite file has one writer by
    construction: docs/switch.md, "Several nodes")."""
    nodes = r.string("nodes", "single")
    if nodes not in NODES:
        raise r.fail("nodes", f"must be 'single' or 'shared', got {nodes!r}")
    if nodes == "shared" and journal_url is None:
        raise r.fail("nodes", "'shared' needs a postgresql:// database; an SQLite journal "
                              "has one switch node")
    return nodes


def _limits(r: Reader) -> Limits:
    """`[switch.limits]`, every key optional."""
    lr = r.section("limits")
    if lr is None:
        return Limits()
    limits = Limits(
        max_frame=lr.integer("max_frame", 4096, minimum=64),
        idle_timeout=lr.number("idle_timeout", 300.0, minimum=0.1),
        max_connections=lr.integer("max_connections", 5000, minimum=1),
        max_inflight_per_connection=lr.integer("max_inflight_per_connection", 64, minimum=1),
        max_inflight=lr.integer("max_inflight", 20000, minimum=1),
        max_batch=lr.integer("max_batch", 4096, minimum=1),
    )
    lr.done()
    if limits.max_frame > 65535:
        raise lr.fail("max_frame", "must fit the 2-byte length header (at most 65535)")
    return limits


def _tls(r: Reader) -> dict[str, TlsFiles]:
    """`[switch.tls.ascii]` / `[switch.tls.bcd]`, each with `tls_cert` and `tls_key`."""
    tr = r.section("tls")
    if tr is None:
        return {}
    out: dict[str, TlsFiles] = {}
    for name in ("ascii", "bcd"):
        lr = tr.section(name)
        if lr is not None:
            out[name] = TlsFiles(Path(lr.string("tls_cert")), Path(lr.string("tls_key")))
            lr.done()
    tr.done()
    return out


def database_path(text: str) -> Path:
    """The SQLite file `[switch] database` names; ValueError for a URL (a message that never
    repeats the URL: it may hold a password). The journal's engine is chosen from this
    (switch/journal/engine.py)."""
    found = _URL.match(text)
    if found is not None:
        scheme = found.group(1).lower()
        if scheme in POSTGRES_SCHEMES:
            raise ValueError(f"a {scheme}:// URL names a PostgreSQL journal; "
                             "[switch] state_dir must name this node's own directory")
        raise ValueError(f"a {scheme}:// URL is not a journal LPS knows; give a postgresql:// "
                         "URL or the path of an SQLite file")
    return Path(text)


def _database(r: Reader) -> tuple[Path, str | None]:
    """`[switch] database`: an SQLite file, or a postgresql:// URL with `state_dir`, the
    directory of this node's own files (docs/deploy.md, "PostgreSQL"). Refused in one line,
    before anything is opened, when it names an engine LPS does not have."""
    text = r.string("database")
    found = _URL.match(text)
    if found is not None and found.group(1).lower() in POSTGRES_SCHEMES:
        if "state_dir" not in r.table:
            raise r.fail("database", "a PostgreSQL journal needs [switch] state_dir, the "
                                     "directory of this node's lock, admin socket and LMK")
        return Path(r.string("state_dir")) / "lps.db", text
    try:
        return database_path(text), None
    except ValueError as exc:
        raise r.fail("database", str(exc)) from None


