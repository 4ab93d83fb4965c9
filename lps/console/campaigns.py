"""Editing campaigns in the switch's TOML file: the file stays the one source of truth.

An edit is planned on the file's current text with tomlkit (comments and layout kept; only the
owner's `campaigns` array changes), the new text is validated by the switch's own loader and
checked to differ from the old one in that array only, and then it replaces the file atomically
(temp file in the same directory, fsync, rename) in the same step as its audit row. The running
switch reads its configuration at start, so an edit takes effect when the switch restarts.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import sqlite3
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, InlineTable, Table

from lps.console import audit, switch_words
from lps.console.messages import N_, SYSTEM, Code, Label, Refusal, Verbatim
from switch.config import Campaign, Config, ConfigError, parse_config

ACTIONS = ("add", "change", "remove")


class EditError(Refusal):
    """A refused edit: the message names the field; the file and the audit log are unchanged."""


@dataclass(frozen=True, slots=True)
class Current:
    """The configuration file as it is now: its text, the digest forms carry, its validation."""

    path: Path
    text: str
    version: str
    config: Config


@dataclass(frozen=True, slots=True)
class Edit:
    action: str
    owner: str
    index: int
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    text: str

    @property
    def target(self) -> str:
        kind, _, oid = self.owner.partition(":")
        return f"config:{kind}.{oid}.campaigns[{self.index}]"


# -- owners and keys in words ----------------------------------------------------------------


OWNER_KINDS = {"coalition": N_("coalition"), "store": N_("store")}


def owner_words(owner: str, config: Config | None = None) -> Refusal:
    """An owner (`store:ID`, `coalition:ID`) as a reader reads it: its kind in their
    language, its ID as the code it is, and with `config` its name."""
    kind, _, oid = owner.partition(":")
    if kind not in OWNER_KINDS:
        return Refusal(N_("{id}"), id=Code(owner))
    held = None if config is None else (
        config.coalitions if kind == "coalition" else config.stores).get(oid)
    if held is None:
        return Refusal(N_("{kind} {id}"), kind=Label(kind), id=Code(oid))
    return Refusal(N_("{kind} {id} ({name})"), kind=Label(kind), id=Code(oid), name=held.name)


#: A key the loader names inside a campaign: `store.ID.campaigns[0].weekdays[1]`.
CAMPAIGN_KEY = re.compile(r"(coalition|store)\.(.+)\.campaigns\[(\d+)\](?:\.(\w+))?(?:\[\d+\])?")
#: The keys of a campaign as the loader names them (docs/programs.md), as words.
LOADER_FIELDS = (N_("name"), N_("from"), N_("to"), N_("multiplier"), N_("bonus"),
                 N_("weekdays"), N_("hours"), N_("expire_after_days"))


def key_words(key: str) -> Refusal | Code:
    """A configuration key as a reader reads it: a campaign's field in words (the owner, the
    campaign's number, the field's name); any other key as the code it is."""
    m = CAMPAIGN_KEY.fullmatch(key)
    if m is None or len(m.group(3)) > 6:
        return Code(key)
    kind, oid, index, name = m.groups()
    campaign = Refusal(N_("campaign #{index} of {owner}"), index=int(index),
                       owner=owner_words(f"{kind}:{oid}"))
    if name is None:
        return campaign
    return Refusal(N_("field {field} of {campaign}"), field=Label(name), campaign=campaign)


# -- the file ---------------------------------------------------------------------------------


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _validate(text: str, file: str) -> Config:
    try:
        return parse_config(tomllib.loads(text), file)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(N_("not valid TOML: {detail}"), detail=Verbatim(str(exc))) from None
    except ConfigError as exc:
        # The loader's reasons in the reader's language (switch_words; docs/console.md,
        # "Editing campaigns"), a campaign's key in words.
        reason = switch_words.loader(exc.reason)
        if not exc.key:
            raise EditError(N_("the switch's loader refuses it: {reason}"),
                            reason=reason) from None
        raise EditError(N_("the switch's loader refuses {key}: {reason}"),
                        key=key_words(exc.key), reason=reason) from None


def read(config_path: str | Path) -> Current:
    """The file now (symlinks followed, so the rename replaces the real file)."""
    path = Path(os.path.realpath(config_path))
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(N_("cannot read the configuration file {path}: {detail}"),
                        path=Code(str(path)), detail=Verbatim(str(exc), SYSTEM)) from None
    try:
        config = _validate(text, str(config_path))
    except EditError as exc:
        raise EditError(N_("the configuration file {path} is not valid as it is now ({detail}); "
                           "fix it by hand first"), path=Code(str(path)), detail=exc) from None
    return Current(path, text, digest(text), config)


def campaigns_of(config: Config, owner: str) -> tuple[Campaign, ...]:
    kind, _, oid = owner.partition(":")
    if kind == "coalition" and oid in config.coalitions:
        return config.coalitions[oid].campaigns
    if kind == "store" and oid in config.stores:
        return config.stores[oid].campaigns
    raise unknown_owner(owner)


def unknown_owner(owner: str) -> EditError:
    return EditError(N_("owner: no store or coalition '{owner}' in the configuration"),
                     owner=Code(owner[:40]))


def campaign_at(config: Config, owner: str, index: int) -> Campaign:
    """The owner's campaign #index (0 first), as the form named it."""
    held = campaigns_of(config, owner)
    if index >= len(held):
        raise EditError(N_("index: {owner} has no campaign #{index} (it has {count}); "
                           "reload the page"), owner=owner_words(owner), index=index,
                        count=len(held))
    return held[index]


def values(c: Campaign) -> dict[str, Any]:
    """A campaign as plain JSON values (the audit log's before/after), defaults included."""
    return {"name": c.name, "from": c.start.isoformat(), "to": c.end.isoformat(),
            "multiplier": c.multiplier, "bonus": c.bonus, "weekdays": list(c.weekdays),
            "hours": list(c.hours) if c.hours else [],
            "expire_after_days": c.expire_after_days}


def _holder(doc: tomlkit.TOMLDocument, owner: str) -> Any:
    kind, _, oid = owner.partition(":")
    return doc[kind][oid]


def _item(container: Any, table: dict[str, Any]) -> Any:
    """A new campaign in the style of the array it joins: `[[...]]` tables or inline tables."""
    item: Table | InlineTable = tomlkit.table() if isinstance(container, AoT) else \
        tomlkit.inline_table()
    item.update(table)
    return item


def _without(data: dict[str, Any], owner: str) -> dict[str, Any]:
    kind, _, oid = owner.partition(":")
    rest = copy.deepcopy(data)
    rest[kind][oid].pop("campaigns", None)
    return rest


def plan(current: Current, owner: str, action: str, index: int | None,
         table: dict[str, Any] | None) -> Edit:
    """The new text of the file for one edit, validated by the switch's loader; writes nothing."""
    if action not in ACTIONS:
        raise EditError(N_("action: must be add, change or remove"))
    old = campaigns_of(current.config, owner)
    if action != "add":
        assert index is not None
        campaign_at(current.config, owner, index)
    doc = tomlkit.parse(current.text)
    holder = _holder(doc, owner)
    container = holder.get("campaigns")
    if container is None:
        if action != "add":
            raise EditError(N_("index: {owner} has no campaigns"), owner=owner_words(owner))
        container = tomlkit.array()
        container.multiline(True)
        holder["campaigns"] = container
    if not isinstance(container, AoT | Array):
        raise EditError(N_("owner: the campaigns of {owner} are not an array in the file"),
                        owner=owner_words(owner))
    if action == "add":
        assert table is not None
        container.append(_item(container, table))
        index = len(container) - 1
    elif action == "change":
        assert table is not None and index is not None
        container[index] = _item(container, table)
    else:
        assert index is not None
        del container[index]
    text = tomlkit.dumps(doc)
    new = _validate(text, str(current.config.path))
    # The edit must change that campaign array and nothing else.
    old_data, new_data = tomllib.loads(current.text), tomllib.loads(text)
    if _without(old_data, owner) != _without(new_data, owner):
        raise EditError(N_("the edit would change more than the campaigns; nothing was "
                           "written"))
    after_list = campaigns_of(new, owner)
    before = values(old[index]) if action != "add" else None
    after = values(after_list[index]) if action != "remove" else None
    name = (after or before or {}).get("name", "")
    return Edit(action, owner, index, name, before, after, text)


def write_atomic(path: Path, text: str) -> None:
    """Temp file beside `path`, fsync, rename over it, fsync the directory; keeps its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def commit(conn: sqlite3.Connection, current: Current, edit: Edit, actor: str, at: str) -> None:
    """The audit row and the new file together: the row commits only once the file is in place.

    Should the commit fail after the rename, the old text is put back, so the file never holds
    an unaudited edit.
    """
    conn.execute("BEGIN IMMEDIATE")
    replaced = False
    try:
        audit.append(conn, at, actor, f"program.campaign.{edit.action}", edit.target,
                     {"campaign": edit.before, "file_sha256": current.version},
                     {"campaign": edit.after, "file_sha256": digest(edit.text)})
        try:
            write_atomic(current.path, edit.text)
        except OSError as exc:
            raise EditError(N_("cannot write {path}: {detail}; nothing changed"),
                            path=Code(str(current.path)),
                            detail=Verbatim(exc.strerror or str(exc), SYSTEM)) from None
        replaced = True
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if replaced:
            write_atomic(current.path, current.text)
        raise
