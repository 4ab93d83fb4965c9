"""The switch's TOML file, read once into a `Config`: the core's `Catalog` plus what only the
shell and the apps use (the file's path, the `[messaging]` section)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switch.config.club import CLUB_KEYS, ClubSettings, read_clubs
from switch.config.coalitions import check_bins, coalition
from switch.config.reader import ConfigError, Reader
from switch.config.receipts import RECEIPTS_KEY, read_receipts
from switch.config.settings import switch_settings
from switch.config.stores import store
from switch.config.terminals import terminals
from switch.core.catalog import Catalog, Coalition, Store

if TYPE_CHECKING:
    from switch.messaging.settings import MessagingSettings

__all__ = ["Config", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class Config(Catalog):
    """A configuration file as read: what the core decides against, and the rest."""

    path: str
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    #: `[messaging]` (docs/messaging.md); None when the section is absent.
    messaging: MessagingSettings | None = None
    #: Each coalition's segments, triggers and segment messages (docs/customers.md).
    clubs: Mapping[str, ClubSettings] = field(default_factory=dict)
    #: The stores that send a receipt SMS per transaction (`[store.X.receipts]`).
    receipts: frozenset[str] = frozenset()


def parse_config(data: Mapping[str, Any], file: str = "<config>") -> Config:
    """Validate an already-parsed TOML document (tests build these as dicts)."""
    top = Reader(file, "", data)
    st = top.table_of("switch", required=True)
    assert st is not None
    switch = switch_settings(top.child("switch", st))

    coalitions: dict[str, Coalition] = {}
    for cid, ct in (top.table_of("coalition", required=True) or {}).items():
        if not isinstance(ct, dict):
            raise ConfigError(file, f"coalition.{cid}", "must be a table")
        own = {k: v for k, v in ct.items() if k not in CLUB_KEYS}
        coalitions[cid] = coalition(Reader(file, f"coalition.{cid}", own), cid)
    if not coalitions:
        raise ConfigError(file, "coalition", "at least one coalition is needed")

    stores: dict[str, Store] = {}
    for sid, stt in (top.table_of("store", required=True) or {}).items():
        if not isinstance(stt, dict):
            raise ConfigError(file, f"store.{sid}", "must be a table")
        own_store = {k: v for k, v in stt.items() if k != RECEIPTS_KEY}
        stores[sid] = store(Reader(file, f"store.{sid}", own_store), sid, coalitions)

    by_id = terminals(file, top.table_of("terminal") or {}, stores)
    check_bins(file, coalitions)
    messaging = _messaging(top, coalitions, stores)
    receipts, messaging = read_receipts(file, top.table_of("store") or {}, stores, switch,
                                        messaging)
    clubs = read_clubs(file, data.get("coalition") or {}, coalitions, stores, messaging)
    top.done()
    return Config(
        path=file, switch=switch, coalitions=coalitions, stores=stores, terminals=by_id,
        raw=data, messaging=messaging, clubs=clubs, receipts=receipts,
    )


def _messaging(top: Reader, coalitions: Mapping[str, Coalition],
               stores: Mapping[str, Store]) -> MessagingSettings | None:
    """`[messaging]`, read by the messaging package (docs/messaging.md §Configuration).

    Imported here, when the section is there: a configuration without one does not load the
    messaging package (its outbox and SMPP client)."""
    table = top.table_of("messaging")
    if table is None:
        return None
    from switch.messaging.settings import parse_messaging

    return parse_messaging(top.child("messaging", table), coalitions, stores)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raises `ConfigError` naming file, key and fault."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, "", "no such file") from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(file, "", "not valid TOML: arrays or tables nested too deep"
                          ) from None
    return parse_config(data, file)
