"""`[terminal.<id>]`: which store each terminal (DE41) belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switch.config.reader import ConfigError, Reader
from switch.core.catalog import Store, Terminal

__all__ = ["terminals"]


def terminals(file: str, tables: Mapping[str, Any],
              stores: Mapping[str, Store]) -> dict[str, Terminal]:
    """The terminals by their DE41, space-filled to 8 characters as the wire carries it."""
    out: dict[str, Terminal] = {}
    for tid, tt in tables.items():
        key = f"terminal.{tid}"
        if not isinstance(tt, dict):
            raise ConfigError(file, key, "must be a table")
        if not 1 <= len(tid) <= 8 or not tid.isascii() or not tid.isprintable():
            raise ConfigError(file, key, "a terminal ID (DE41) is 1-8 printable ASCII characters")
        tr = Reader(file, key, tt)
        store = tr.string("store")
        if store not in stores:
            raise tr.fail("store", f"names no [store.{store}] table")
        tr.done()
        out[tid.ljust(8)] = Terminal(id=tid.ljust(8), store=store)
    return out
