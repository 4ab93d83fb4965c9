"""Programs changed while the switch runs (docs/programs.md, "Changing programs while the
switch runs"): the shell's half, which reads and checks the file; the core's half is
`switch.core.program_change.decide_programs`, decided and applied between two requests.

A reload reads the configuration file again, validates it whole as a start would, and refuses
it (the old version stays) when it does not load, when it changes anything that is not a
program (switch/config/versions.py names the first such key: stores, terminals, listeners
need a restart) or when its programs are the version in force already.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from switch.config import Config, ConfigError, load_config, versions
from switch.core.rewards import ProgramVersion
from switch.core.state import State
from switch.journal import Journal

__all__ = ["NewPrograms", "ReloadRefused", "first_version", "read_new_programs",
           "record_at_start"]


class ReloadRefused(Exception):
    """Why the file's programs are not taken; nothing changed."""


@dataclass(frozen=True, slots=True)
class NewPrograms:
    """A file that may replace the programs in force: its configuration, canonical programs
    and their digest."""

    config: Config
    document: str
    digest: str


def read_new_programs(current: Config, current_digest: str) -> NewPrograms:
    """The file at `current.path` read again and checked against `current`; raises
    `ReloadRefused` with the reason."""
    try:
        new = load_config(current.path)
    except ConfigError as exc:
        raise ReloadRefused(f"the file does not load: {exc}") from None
    changed = versions.outside_programs(current.raw, new.raw)
    if changed is not None:
        raise ReloadRefused(f"{changed} is not a program: it changes at a restart only "
                            "(stores, terminals, listeners, BINs, operators and fees too)")
    document = versions.document(new.raw)
    digest = versions.digest(document)
    if digest == current_digest:
        raise ReloadRefused("the file's programs are the version in force already")
    return NewPrograms(new, document, digest)


def first_version(config: Config, latest: ProgramVersion | None) -> ProgramVersion | None:
    """The version a start records for its file's programs (None: they are `latest`)."""
    document = versions.document(config.raw)
    digest = versions.digest(document)
    if latest is not None and latest.digest == digest:
        return None
    return ProgramVersion((latest.version if latest else 0) + 1, digest, config.path, document)


def record_at_start(journal: Journal, config: Config, state: State) -> ProgramVersion:
    """The file's programs as the version in force at a start: the newest recorded when they
    are its, else recorded now as the next one (`state.program_version` set to it)."""
    latest = journal.program_version()
    first = first_version(config, latest)
    if first is None:
        assert latest is not None
        return latest
    journal.record_programs(first, dt.datetime.now(dt.UTC))
    state.program_version = first.version
    return first
