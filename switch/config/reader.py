"""Typed access to one TOML table, and the one error a configuration can raise.

Every error names the file, the dotted key and what is wrong, so an operator can fix a typo
without reading code (docs/switch.md, Configuration). Unknown keys are refused for the same
reason (a misspelt `min_amout` would otherwise silently earn points below the minimum): each
table's reader remembers the keys asked for and `done` refuses the rest.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switch.core.catalog import HostPort
from switch.core.text import is_digits

__all__ = ["MAX_DAYS", "ConfigError", "Reader"]

#: The longest span a setting counted in days may name: a hundred years. Every such span is
#: added to or taken from a date (a lot's expiry, a window's start), and `datetime.date`
#: holds the years 1 to 9999 only: a longer span would fail where it is used, at the start
#: or in every decision that uses it, instead of here.
MAX_DAYS = 36_500


class ConfigError(ValueError):
    """A configuration that cannot be used: `file: key: reason`."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")


class Reader:
    """Typed accessors over one TOML table that raise `ConfigError` naming the key."""

    def __init__(self, file: str, prefix: str, table: Mapping[str, Any]) -> None:
        self.file = file
        self.prefix = prefix
        self.table = table
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), reason)

    def value(self, name: str, required: bool) -> Any:
        """The raw TOML value (None when absent and not required), marked as asked for."""
        self.used.add(name)
        if name not in self.table:
            if required:
                raise self.fail(name, "is missing")
            return None
        return self.table[name]

    def string(self, name: str, default: str | None = None, *, nonempty: bool = True) -> str:
        value = self.value(name, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {type(value).__name__} {value!r}")
        if nonempty and not value.strip():
            raise self.fail(name, "must not be empty")
        return value

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self.value(name, default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return value

    def days(self, name: str, default: int | None = None, *, minimum: int) -> int:
        """A span in days: an integer from `minimum` to `MAX_DAYS`."""
        value = self.integer(name, default, minimum=minimum)
        if value > MAX_DAYS:
            raise self.fail(name, f"must be at most {MAX_DAYS} days (a hundred years), "
                            f"got {value}")
        return value

    def time_zone(self, name: str, default: str) -> str:
        """An IANA time zone name the machine's database knows. `ZoneInfo` reads a file named
        after it, so a name too long for a file name raises `OSError` there, not
        `ZoneInfoNotFoundError`."""
        tz = self.string(name, default)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise self.fail(name, f"unknown time zone {tz[:64]!r}") from None
        return tz

    def number(self, name: str, default: float | None = None, *, minimum: float = 0.0) -> float:
        value = self.value(name, default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"must be a number, got {type(value).__name__} {value!r}")
        # TOML has nan and inf; no setting means either (nan compares false with any bound)
        if not math.isfinite(value):
            raise self.fail(name, f"must be a finite number, got {value}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return float(value)

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self.value(name, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, the first when absent."""
        value = self.string(name, choices[0])
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def table_of(self, name: str, required: bool = False) -> Mapping[str, Any] | None:
        value = self.value(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table, got {type(value).__name__}")
        return value

    def section(self, name: str) -> Reader | None:
        """The reader of the sub-table `name`, None when the table has none."""
        table = self.table_of(name)
        return None if table is None else self.child(name, table)

    def list_of(self, name: str) -> list[Any]:
        value = self.value(name, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(name, f"must be an array, got {type(value).__name__}")
        return value

    def date(self, name: str) -> dt.date:
        value = self.value(name, True)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(name, f"must be a date YYYY-MM-DD, got {value!r}")

    def host_port(self, name: str) -> HostPort:
        """`HOST:PORT` (an IPv6 host in brackets), required."""
        value = self.value(name, True)
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string HOST:PORT, got {value!r}")
        host, sep, port = value.rpartition(":")
        if not sep or not host or not is_digits(port) or int(port) > 65535:
            raise self.fail(name, f"must be HOST:PORT with a port 0-65535, got {value!r}")
        return HostPort(host.strip("[]"), int(port))

    def optional_host_port(self, name: str) -> HostPort | None:
        """`HOST:PORT`, or None when absent or "" (a listener switched off)."""
        if self.table.get(name) in (None, ""):
            self.used.add(name)
            return None
        return self.host_port(name)

    def child(self, name: str, table: Mapping[str, Any]) -> Reader:
        return Reader(self.file, self.key(name), table)

    def done(self) -> None:
        """Refuse keys nobody asked for: most often a typo."""
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(self.file, self.key(unknown[0]), "unknown key")
