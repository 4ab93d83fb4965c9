"""The programs page and the campaign edits of marketing (docs/console.md, "Editing campaigns").

One edit at a time, across threads and worker processes: an exclusive `flock` on a lock file
beside the console's database is held from reading the file to writing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from starlette.responses import Response

from lps.console import campaign_form, campaigns, db
from lps.console.i18n import shown_back
from lps.console.messages import N_, Refusal
from lps.console.views.common import page, say
from lps.console.web import BadInput, Console, Ctx, route
from switch.config import Campaign, Config
from switch.i18n import WEEK, jalali_date

STALE = N_("the configuration file has changed since this page was loaded (another edit, or by "
           "hand): reload the page and make the change again")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created 0600), for threads and processes alike."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _editable_owner(ctx: Ctx, owner: str) -> bool:
    kind, _, oid = owner.partition(":")
    return not ctx.scope.limited or (kind == "store" and ctx.scope.sees(oid))


def _rows(ctx: Ctx, config: Config, editable: bool) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for cid, c in config.coalitions.items():
        holders = [(f"coalition:{cid}", c.name, c.campaigns)]
        holders += [(f"store:{s.id}", f"{s.id} {s.name}", s.campaigns)
                    for s in config.stores.values() if s.coalition == cid
                    and ctx.scope.sees(s.id)]
        out[cid] = [{"owner": owner, "label": label, "index": i, "k": k,
                     "editable": editable and _editable_owner(ctx, owner),
                     "weekdays": "، ".join(ctx.t.weekday(w) for w in WEEK if w in k.weekdays)
                     if ctx.t.persian else ", ".join(ctx.t.weekday(w) for w in WEEK
                                                      if w in k.weekdays)}
                    for owner, label, camps in holders for i, k in enumerate(camps)]
    return out


def programs_page(console: Console, ctx: Ctx, notice: str = "", error: str = "",
                  status: int = 200, add_values: Mapping[str, str] | None = None) -> Response:
    """The programs as the file holds them now (what the switch runs after a restart), with
    the campaign forms for a member who may edit."""
    try:
        cur = campaigns.read(console.config_path)
        config, version = cur.config, cur.version
    except campaigns.EditError as exc:
        config, version, error = console.config, None, say(ctx, exc)
    editable = version is not None and ctx.may("POST", "/programs/campaigns/add")
    owners = [(f"{k}:{oid}", k, oid, name) for k, oid, name in
              [("coalition", c.id, c.name) for c in config.coalitions.values()]
              + [("store", s.id, s.name) for s in config.stores.values()]
              if _editable_owner(ctx, f"{k}:{oid}")]
    return page(console, ctx, "programs.html", N_("Programs"), status, config=config,
                coalitions=list(config.coalitions.values()),
                stores=[s for s in config.stores.values() if ctx.scope.sees(s.id)],
                campaign_rows=_rows(ctx, config, editable), editable=editable,
                version=version, owners=owners, v=add_values or {}, week=_week(ctx),
                notice=notice, error=error)


def _week(ctx: Ctx) -> list[tuple[int, str]]:
    return [(n, ctx.t.weekday(n)) for n in WEEK]


@route("GET", "/programs")
def programs(console: Console, ctx: Ctx) -> Response:
    return programs_page(console, ctx)


def _form_values(k: Campaign) -> dict[str, str]:
    """A campaign as its form shows it: dates in the Jalali calendar (ASCII digits)."""
    values = campaign_form.form_values(k)
    values["from"] = jalali_date(k.start, persian=False)
    values["to"] = jalali_date(k.end, persian=False)
    return values


def campaign_page(console: Console, ctx: Ctx, owner: str, index: int,
                  values: Mapping[str, str], version: str, status: int = 200,
                  error: str = "") -> Response:
    label = campaigns.owner_words(owner, campaigns.read(console.config_path).config)
    return page(console, ctx, "campaign.html", N_("Campaign"), status, owner=owner,
                label=label, index=index, v=values, version=version, week=_week(ctx),
                config_path=console.config_path, error=error)


@route("GET", "/programs/campaign")
def campaign(console: Console, ctx: Ctx) -> Response:
    q = ctx.req.query
    owner = q.get("owner", "")
    try:
        cur = campaigns.read(console.config_path)
        index = campaign_form.parse_index(q.get("index", ""))
        if not _editable_owner(ctx, owner):
            raise campaigns.unknown_owner(owner)
        held = campaigns.campaign_at(cur.config, owner, index)
    except campaigns.EditError as exc:
        raise BadInput(exc) from None
    return campaign_page(console, ctx, owner, index, _form_values(held), cur.version)


def again(console: Console, ctx: Ctx, error: str) -> Response:
    """After a refused campaign form: that form again with what was typed (but a card
    number)."""
    f = shown_back(ctx.req.form)
    if ctx.req.path == "/programs/campaigns/change":
        try:
            cur = campaigns.read(console.config_path)
            index = campaign_form.parse_index(f.get("index", ""))
            owner = f.get("owner", "")
            if index < len(campaigns.campaigns_of(cur.config, owner)):
                # The version typed against stays: a stale form stays refused until reloaded.
                return campaign_page(console, ctx, owner, index, f, f.get("version", ""), 400,
                                     error)
        except campaigns.EditError:
            pass
    add = dict(f) if ctx.req.path == "/programs/campaigns/add" else None
    return programs_page(console, ctx, error=error, status=400, add_values=add)


def _edit(console: Console, ctx: Ctx, action: str) -> Response:
    f = ctx.req.form
    lock = db.console_path(console.database).with_suffix(".campaigns.lock")
    with exclusive(lock):
        try:
            cur = campaigns.read(console.config_path)
            if f.get("version", "") != cur.version:
                raise campaigns.EditError(STALE)
            owner = f.get("owner", "")
            if not _editable_owner(ctx, owner):
                raise campaigns.unknown_owner(owner)
            index = None if action == "add" else campaign_form.parse_index(f.get("index", ""))
            table = None if action == "remove" else campaign_form.parse_form(f)
            edit = campaigns.plan(cur, owner, action, index, table)
            campaigns.commit(ctx.cdb, cur, edit, f"staff:{ctx.user}",
                             ctx.now.isoformat(timespec="seconds"))
        except Refusal as exc:  # campaigns.EditError, or typed text refused
            raise BadInput(exc) from None
    done = {"add": N_("Campaign {name} added to {owner} (recorded in the audit log)."),
            "change": N_("Campaign {name} changed in {owner} (recorded in the audit log)."),
            "remove": N_("Campaign {name} removed from {owner} (recorded in the audit log).")}
    said = Refusal(done[action], name=edit.name, owner=campaigns.owner_words(edit.owner,
                                                                          cur.config))
    notice = say(ctx, said) + " " + ctx.t.gettext(
        "A change takes effect when the switch restarts (the running switch reads its "
        "configuration at start).")
    return programs_page(console, ctx, notice=notice)


@route("POST", "/programs/campaigns/add")
def add(console: Console, ctx: Ctx) -> Response:
    return _edit(console, ctx, "add")


@route("POST", "/programs/campaigns/change")
def change(console: Console, ctx: Ctx) -> Response:
    return _edit(console, ctx, "change")


@route("POST", "/programs/campaigns/remove")
def remove(console: Console, ctx: Ctx) -> Response:
    return _edit(console, ctx, "remove")
