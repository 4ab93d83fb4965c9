"""`[store.<id>]`: a store, its earn rule, stamps, campaigns and stored value
(docs/programs.md)."""

from __future__ import annotations

from collections.abc import Mapping

from switch.config import fees, programs, till
from switch.config.reader import ConfigError, Reader
from switch.core.catalog import Coalition, Stamps, Store, StoredValue

__all__ = ["store"]


def store(r: Reader, sid: str, coalitions: Mapping[str, Coalition]) -> Store:
    if not 1 <= len(sid) <= 15 or not sid.isascii() or not sid.isprintable():
        raise ConfigError(r.file, r.prefix, "a store ID (DE42) is 1-15 printable ASCII characters")
    coalition = r.string("coalition")
    if coalition not in coalitions:
        raise r.fail("coalition", f"names no [coalition.{coalition}] table")
    default_earn = coalitions[coalition].earn
    et = r.table_of("earn", required=default_earn is None)
    earn = programs.earn_rule(r.child("earn", et)) if et is not None else default_earn
    assert earn is not None
    stamps = _stamps(r)
    campaigns = programs.campaigns(r)
    stored_value = _stored_value(r)
    result = Store(
        id=sid,
        name=r.string("name"),
        coalition=coalition,
        earn=earn,
        stamps=stamps,
        birthday_bonus=r.integer("birthday_bonus", 0),
        campaigns=campaigns,
        stored_value=stored_value,
        birthday_window_days=r.integer("birthday_window_days", 7, minimum=1),
        language=programs.language(r, coalitions[coalition].language),
        iban=fees.iban(r, "iban") if "iban" in r.table else None,
        discounts=till.store_discounts(r),
    )
    if result.birthday_window_days > 366:
        raise r.fail("birthday_window_days", f"must be at most 366, got "
                     f"{result.birthday_window_days}")
    r.done()
    return result


def _stamps(r: Reader) -> Stamps | None:
    sr = r.section("stamps")
    if sr is None:
        return None
    stamps = Stamps(needed=sr.integer("needed", minimum=1), reward=sr.string("reward"))
    sr.done()
    return stamps


def _stored_value(r: Reader) -> StoredValue | None:
    svr = r.section("stored_value")
    if svr is None:
        return None
    stored_value = StoredValue(
        topup_bonus_percent=svr.integer("topup_bonus_percent", 0),
        coalition_wide=svr.boolean("coalition_wide", False),
    )
    svr.done()
    return stored_value
