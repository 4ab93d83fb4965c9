"""A new version of the programs while the switch runs (docs/programs.md, "Changing programs
while the switch runs"), as a decision like any other.

The shell reads and checks the new file (switch/config/versions.py: only program keys may
differ); this makes the journal row that records the version (kind `programs`, with the
version's canonical form in `program_versions`) and hands `apply` the configuration and rules
the next decisions read. `apply` installs both in one step between two decisions, so no
decision sees half of a change; every entry records the version it was decided under.
"""

from __future__ import annotations

import datetime as dt

from switch.core.admin import admin_entry
from switch.core.catalog import Catalog
from switch.core.codes import Kind
from switch.core.outcome import Changes, Decision, ProgramSwap
from switch.core.rewards import ProgramVersion
from switch.core.rules import RuleBook
from switch.core.state import State


def decide_programs(state: State, config: Catalog, rules: RuleBook, digest: str, file: str,
                    document: str, now: dt.datetime) -> Decision:
    """Version `state.program_version + 1` of the programs, from `config` and `rules`."""
    version = state.program_version + 1
    entry = admin_entry(state, now, {"action": "reload", "version": version,
                                     "digest": digest, "file": file}, kind=Kind.PROGRAMS)
    entry.program_version = version
    entry.programs = ProgramVersion(version, digest, file, document)
    return Decision(None, [entry], changes=Changes(
        journal_id=entry.id, programs=ProgramSwap(version, config, rules)))
