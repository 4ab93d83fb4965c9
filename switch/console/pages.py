"""Server-rendered HTML: every value goes through `h()` (escaping), forms carry the CSRF token.

No script anywhere: the pages work in any browser and the Content-Security-Policy forbids it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any

from switch.config import Campaign, Config
from switch.console import audit as A
from switch.console.auth import Session, Staff
from switch.console.cards import Adjustment, CardView
from switch.console.dashboard import Dashboard
from switch.console.fleet import Fleet
from switch.console.roles import ENDPOINTS, PUBLIC, ROLES
from switch.console.settle import Day
from switch.core.luhn import mask_pan

_BASE = Template(resources.files("switch.console").joinpath("templates/base.html")
                 .read_text(encoding="utf-8"))

#: Navigation: (path, label); a link shows only for roles allowed to GET it.
NAV = (("/", "Dashboard"), ("/cards", "Cards"), ("/adjustments", "Adjustments"),
       ("/programs", "Programs"), ("/settlement", "Settlement"), ("/audit", "Audit log"),
       ("/staff", "Staff"))


def h(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: int) -> str:
    return f"{value:,}"


def page(title: str, body: str, session: Session | None, error: str = "",
         notice: str = "") -> str:
    nav = who = ""
    if session is not None:
        nav = "".join(f'<a href="{p}">{h(label)}</a>' for p, label in NAV
                      if session.role in ENDPOINTS[("GET", p)])
        who = (f"{h(session.username)} ({h(session.role)}) "
               + form("/logout", session, '<button type="submit">Log out</button>', "inline"))
    messages = ""
    if error:
        messages += f'<p class="error" role="alert">{h(error)}</p>'
    if notice:
        messages += f'<p class="notice" role="status">{h(notice)}</p>'
    return _BASE.substitute(title=h(title), nav=nav, who=who, messages=messages, body=body)


def form(action: str, session: Session | None, inner: str, cls: str = "box",
         csrf: str | None = None) -> str:
    token = csrf if csrf is not None else (session.csrf if session else "")
    return (f'<form method="post" action="{h(action)}" class="{cls}">'
            f'<input type="hidden" name="csrf" value="{h(token)}">{inner}</form>')


def field(label: str, name: str, value: str = "", kind: str = "text", extra: str = "") -> str:
    return (f'<label>{h(label)} <input type="{kind}" name="{name}" id="{name}" '
            f'value="{h(value)}" {extra}></label>')


def table(header: Sequence[str], rows: Iterable[Sequence[object]],
          numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{h(c)}</th>'
                   for i, c in enumerate(header))
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=n" if i in numeric else ""}>'
            f"{num(c) if isinstance(c, int) and not isinstance(c, bool) else h(c)}</td>"
            for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def login(csrf: str) -> str:
    inner = (field("Username", "username", extra='autocomplete="username" required')
             + field("Password", "password", kind="password",
                     extra='autocomplete="current-password" required')
             + '<button type="submit" id="login">Log in</button>')
    return form("/login", None, inner, csrf=csrf)


def dashboard(d: Dashboard, config: Config, fleet: Fleet | None) -> str:
    names = {s: st.name for s, st in config.stores.items()}
    online = sum(1 for _, _, on in d.terminals if on)
    status = fleet.snapshot() if fleet is not None else {}
    agents = ""
    if fleet is not None:
        up = sum(1 for tid, _, _ in d.terminals
                 if tid in status and status[tid].state == "online")
        agents = (f'<div class="figure">Terminals online (MQTT)<b id="online">{up} of '
                  f"{len(d.terminals)}</b></div>")
    figures = (f'<div class="cards"><div class="figure">Points issued<b>{num(d.issued)}</b></div>'
               f'<div class="figure">Points redeemed<b>{num(d.redeemed)}</b></div>'
               f'<div class="figure">Terminals signed on<b>{online} of {len(d.terminals)}</b>'
               f"</div>{agents}</div>")
    if fleet is None:
        broker = "<p>No MQTT broker configured (<code>--mqtt</code>): agents' status not shown.</p>"
    elif fleet.connected:
        broker = f"<p>Agents' status from <code>{h(fleet.url)}</code>.</p>"
    else:
        broker = (f'<p class="bad">MQTT broker <code>{h(fleet.url)}</code> unreachable'
                  f"{': ' + h(fleet.error) if fleet.error else ''}.</p>")

    def agent(tid: str) -> tuple[str, str, str, str]:
        st = status.get(tid)
        if st is None:
            return ("unknown", "", "", "")
        return (st.state, st.link, str(st.saf_depth) if st.state == "online" else "", st.updated)

    terminals = [(t, s, "yes" if on else "no", *(agent(t) if fleet is not None else ()))
                 for t, s, on in d.terminals]
    head = ("terminal", "store", "signed on", *(("agent", "link", "offline earns queued",
                                                  "updated") if fleet is not None else ()))
    return (f"<p>Business day <strong>{h(d.day)}</strong> "
            f"({h(config.switch.timezone)}).</p>{figures}"
            "<h2>Approvals and declines by store</h2>"
            + table(("store", "name", "approved", "declined"),
                    [(s, names.get(s, ""), a, x) for s, a, x in d.by_store], frozenset({2, 3}))
            + "<h2>By response code</h2>"
            + table(("response code", "count"), d.by_code, frozenset({1}))
            + "<h2>Terminals</h2>" + broker + table(head, terminals))


def card_search(session: Session) -> str:
    return form("/cards", session, field("Card number", "pan", extra='inputmode="numeric" '
                                         'autocomplete="off" required')
                + '<button type="submit" id="find">Find</button>')


def card(view: CardView, ref: str, session: Session, config: Config, full: bool,
         can_reveal: bool, can_change: bool, threshold: int) -> str:
    shown = view.pan if full else mask_pan(view.pan)
    hidden = f'<input type="hidden" name="card" value="{h(ref)}">'
    out = [table(("card", "coalition", "status", "enrolled", "available points",
                  "points on the card"),
                 [(shown, view.coalition, view.status, view.enrolled_on, view.available,
                   view.on_card)], frozenset({4, 5}))]
    actions = []
    if can_reveal and not full:
        actions.append(form("/cards/reveal", session, hidden
                            + '<button type="submit" id="reveal">Show the full number '
                              "(audited)</button>", "inline"))
    if can_change:
        verb = "unblock" if view.status == "blocked" else "block"
        actions.append(form(f"/cards/{verb}", session, hidden
                            + f'<button type="submit" id="{verb}">{verb.capitalize()} '
                              "card</button>", "inline"))
    out.append(" ".join(actions))
    if can_change:
        stores = "".join(f'<option value="{h(s)}">{h(s)} {h(st.name)}</option>'
                         for s, st in sorted(config.stores.items())
                         if st.coalition == view.coalition)
        out.append("<h2>Adjust points</h2>" + form(
            "/cards/adjust", session, hidden
            + field("Points (negative to debit)", "points", extra='inputmode="numeric" '
                    "required")
            + f'<label>Store bearing the points <select name="store" id="store">{stores}'
              "</select></label>"
            + field("Reason", "reason", extra='maxlength="200" required')
            + f"<p>Above {num(threshold)} points a second staff member must approve.</p>"
            + '<button type="submit" id="adjust">Adjust</button>'))
    out.append("<h2>Lots</h2>" + table(
        ("lot", "kind", "store", "earned", "expires", "initial", "remaining"),
        [(r[0], r[1], r[2], r[3], r[4] or "-", r[5], r[6]) for r in view.lots],
        frozenset({5, 6})))
    out.append("<h2>Last 20 journal entries</h2>" + table(
        ("journal", "at", "kind", "terminal", "store", "rc", "amount", "points", "sv"),
        [(r[0], r[1][:19], r[2], r[3] or "", r[4] or "", r[5] or "", r[6], r[7], r[8])
         for r in view.history], frozenset({6, 7, 8})))
    return "".join(out)


def adjustments(items: Sequence[Adjustment], session: Session, can_decide: bool) -> str:
    rows = []
    for a in items:
        decide = ""
        if can_decide and a.status == "pending" and a.maker != session.username:
            hidden = f'<input type="hidden" name="id" value="{a.id}">'
            decide = (form("/adjustments/approve", session, hidden
                           + f'<button type="submit" id="approve-{a.id}">Approve</button>',
                           "inline")
                      + form("/adjustments/reject", session, hidden
                             + f'<button type="submit" id="reject-{a.id}">Reject</button>',
                             "inline"))
        rows.append(f"<tr><td class=n>{a.id}</td><td>{h(mask_pan(a.pan))}</td>"
                    f"<td class=n>{num(a.points)}</td><td>{h(a.store_id)}</td>"
                    f"<td>{h(a.reason)}</td><td>{h(a.maker)}</td><td>{h(a.made_at)}</td>"
                    f'<td class="status">{h(a.status)}</td><td>{h(a.checker or "")}</td>'
                    f'<td>{h(a.error or "")}</td><td>{decide}</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in ("#", "card", "points", "store", "reason", "maker",
                                              "made", "status", "checker", "last error", ""))
    return (f'<table id="adjustments"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def _hidden(**items: str) -> str:
    return "".join(f'<input type="hidden" name="{k}" value="{h(v)}">' for k, v in items.items())


def _campaign_fields(v: Mapping[str, str]) -> str:
    return (field("Name", "name", v.get("name", ""), extra='maxlength="60" required')
            + field("From (YYYY-MM-DD, first day)", "from", v.get("from", ""),
                    extra="required")
            + field("To (YYYY-MM-DD, last day)", "to", v.get("to", ""), extra="required")
            + field("Multiplier (empty: 1; at most 3 decimals; the highest running one "
                    "applies)", "multiplier", v.get("multiplier", ""))
            + field("Bonus points per earn (empty: 0; bonuses add up)", "bonus",
                    v.get("bonus", ""), extra='inputmode="numeric"')
            + field("Weekdays (0 = Monday .. 6 = Sunday, comma-separated; empty: every day)",
                    "weekdays", v.get("weekdays", ""))
            + field("From hour (0-23, local time; empty: all day)", "hour_from",
                    v.get("hour_from", ""), extra='inputmode="numeric"')
            + field("Until hour (1-24, not included)", "hour_to", v.get("hour_to", ""),
                    extra='inputmode="numeric"')
            + field("Its points expire after (days; empty: the coalition's)",
                    "expire_after_days", v.get("expire_after_days", ""),
                    extra='inputmode="numeric"'))


RESTART = ("takes effect when the switch restarts (the running switch reads its "
           "configuration at start)")


def _campaign_rows(config: Config, coalition: str, editable: bool) -> str:
    rows = []
    holders: list[tuple[str, str, Sequence[Campaign]]] = [
        (f"coalition:{coalition}", "whole coalition", config.coalitions[coalition].campaigns)]
    holders += [(f"store:{s.id}", f"{s.id} {s.name}", s.campaigns)
                for s in config.stores.values() if s.coalition == coalition]
    for owner, label, camps in holders:
        for i, k in enumerate(camps):
            anchor = h(owner.replace(":", "-"))
            link = (f'<a href="/programs/campaign?owner={h(owner)}&amp;index={i}" '
                    f'id="edit-{anchor}-{i}">change or remove</a>' if editable else "")
            hours = f"{k.hours[0]}-{k.hours[1]}" if k.hours else "all day"
            rows.append(
                f"<tr><td>{h(label)}</td><td>{h(k.name)}</td><td>{h(k.start)}</td>"
                f"<td>{h(k.end)}</td><td>{h(','.join(map(str, k.weekdays)) or 'all')}</td>"
                f"<td>{h(hours)}</td><td class=n>{h(f'{k.multiplier:g}')}</td>"
                f"<td class=n>{num(k.bonus)}</td><td class=n>{h(k.expire_after_days or '-')}"
                f"</td><td>{link}</td></tr>")
    if not rows:
        return "<p>No campaigns.</p>"
    head = "".join(f"<th>{c}</th>" for c in (
        "held by", "campaign", "from", "to", "weekdays", "hours", "multiplier", "bonus",
        "own expiry (days)", ""))
    return (f'<table class="campaigns"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table>")


def programs(config: Config, session: Session | None = None, version: str | None = None,
             add_values: Mapping[str, str] | None = None,
             owners: Sequence[tuple[str, str]] = ()) -> str:
    """The programs; with a `version` (the file's digest) the campaign forms of an editor."""
    editable = session is not None and version is not None
    if editable:
        out = ["<p>Campaigns can be added, changed and removed here. Each edit rewrites the "
               f"switch's configuration file <code>{h(config.path)}</code> (checked by the "
               "switch's own loader first; its other content and comments are kept) and is "
               f"recorded in the audit log. <strong>A change {RESTART}.</strong> The rest of "
               "the programs changes by editing that file.</p>"]
    else:
        out = ["<p>Read-only: the programs are the switch's configuration "
               f"(<code>{h(config.path)}</code>); campaigns are edited by marketing, the rest "
               f"by editing the file. A change {RESTART}.</p>"]
    for c in config.coalitions.values():
        out.append(f"<h2>{h(c.name)} <code>{h(c.id)}</code></h2>")
        out.append(table(("point value", "currency", "points expire after (days)", "card BINs",
                          "auto-enrol", "daily earn cap"),
                         [(c.point_value, c.currency, c.points_expire_after_days,
                           " ".join(c.card_bins), "yes" if c.auto_enroll else "no",
                           c.daily_earn_cap or "none")], frozenset({0, 2})))
        if c.tiers:
            out.append(table(("tier", "min spend over 12 months", "earn multiplier"),
                             [(t.name, t.min_spend_12m, f"{t.earn_multiplier:g}")
                              for t in c.tiers], frozenset({1})))
        rows = []
        for s in (st for st in config.stores.values() if st.coalition == c.id):
            rows.append((s.id, s.name,
                         f"{s.earn.points} per {num(s.earn.points_per)}"
                         + (f" from {num(s.earn.min_amount)}" if s.earn.min_amount else ""),
                         f"{s.stamps.needed}: {s.stamps.reward}" if s.stamps else "-",
                         s.birthday_bonus or "-", len(s.campaigns),
                         f"+{s.stored_value.topup_bonus_percent}%"
                         + (" coalition-wide" if s.stored_value.coalition_wide else "")
                         if s.stored_value else "-"))
        out.append(table(("store", "name", "earn", "stamps", "birthday bonus", "campaigns",
                          "stored value"), rows, frozenset({5})))
        out.append(f"<h3>Campaigns of {h(c.name)}</h3>"
                   + _campaign_rows(config, c.id, editable))
    if editable:
        assert version is not None
        options = "".join(
            f'<option value="{h(v)}"{" selected" if (add_values or {}).get("owner") == v else ""}'
            f">{h(label)}</option>" for v, label in owners)
        out.append("<h2>Add a campaign</h2>" + form(
            "/programs/campaigns/add", session, _hidden(version=version)
            + f'<label>For <select name="owner" id="owner">{options}</select></label>'
            + _campaign_fields(add_values or {})
            + f"<p>The new campaign {RESTART}.</p>"
            + '<button type="submit" id="add-campaign">Add the campaign</button>'))
    return "".join(out)


def campaign(owner: str, label: str, index: int, values: Mapping[str, str], session: Session,
             version: str, config_path: str) -> str:
    """One campaign's change and remove forms."""
    keep = _hidden(owner=owner, index=str(index), version=version)
    return (f"<p>Campaign #{index} of {h(label)}, in <code>{h(config_path)}</code>. "
            f"A change {RESTART}. To end it early, set its last day; removing it deletes it "
            "from the file.</p>"
            + form("/programs/campaigns/change", session, keep + _campaign_fields(values)
                   + '<button type="submit" id="change-campaign">Save the change</button>')
            + form("/programs/campaigns/remove", session, keep
                   + '<button type="submit" id="remove-campaign">Remove this campaign'
                     "</button>")
            + '<p><a href="/programs">Back to the programs</a></p>')


def settlement(days: Sequence[Day], session: Session, can_run: bool) -> str:
    out = []
    if can_run:
        out.append(form("/settlement/run", session, field("Business day (YYYY-MM-DD)", "date",
                                                          extra="required")
                        + '<label><input type="checkbox" name="reopen" value="1"> reopen a '
                          "sealed day whose inputs changed (logged)</label>"
                        + '<button type="submit" id="settle">Settle</button>'))
    rows = "".join(
        f'<tr><td><a href="/settlement/day?date={h(d.business_day)}">{h(d.business_day)}</a>'
        f"</td><td>{h(d.settled_at)}</td><td class=n>{d.runs}</td>"
        f"<td class=n>{d.reopenings}</td><td><code>{h(d.inputs_digest[:16])}...</code></td></tr>"
        for d in days)
    out.append("<table id=days><thead><tr><th>business day</th><th>settled at</th>"
               "<th class=n>runs</th><th class=n>reopened</th><th>inputs digest</th></tr>"
               f"</thead><tbody>{rows}</tbody></table>")
    return "".join(out)


def settlement_day(d: Day, summary: dict[str, Any], charts: Sequence[str],
                   positions: Sequence[dict[str, str]], files: Sequence[tuple[str, int]]) -> str:
    out = [f"<p>Settled {h(d.settled_at)}, {d.runs} run(s), reopened {d.reopenings} time(s); "
           f"inputs <code>{h(d.inputs_digest)}</code>.</p>"]
    entries = summary.get("entries", {})
    recon = summary.get("reconciliation", {})
    if entries:
        out.append(f"<p>{num(int(entries.get('total', 0)))} journal entries; "
                   f"{num(int(recon.get('batches', 0)))} batches, "
                   f"{num(int(recon.get('out_of_balance', 0)))} out of balance.</p>")
    out.append('<h2>Net positions</h2><div class="chart">' + "".join(charts) + "</div>")
    if positions:
        cols = list(positions[0])
        out.append(table(cols, [[p[c] for c in cols] for p in positions]))
    out.append("<h2>Files</h2><ul>" + "".join(
        f'<li><a href="/settlement/file?date={h(d.business_day)}&amp;name={h(n)}">{h(n)}</a> '
        f"({num(size)} bytes)</li>" for n, size in files) + "</ul>")
    for name, c in summary.get("coalitions", {}).items():
        out.append(f"<h2>{h(name)}</h2><pre>{h(json.dumps(c, indent=1))}</pre>")
    return "".join(out)


def audit(rows: Sequence[A.AuditRow], checked: int, broken: str | None,
          next_before: int | None) -> str:
    state = (f'<p class="ok" id="chain">Hash chain intact over {num(checked)} rows.</p>'
             if broken is None else
             f'<p class="bad" id="chain">Hash chain BROKEN: {h(broken)}</p>')
    body = table(("#", "at", "who", "what", "target", "before", "after"),
                 [(r.id, r.at, r.actor, r.action, r.target, r.before or "", r.after or "")
                  for r in rows])
    more = (f'<p><a href="/audit?before={next_before}">older</a></p>'
            if next_before is not None else "")
    return state + body + more


def staff(people: Sequence[Staff], session: Session) -> str:
    roles = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
    return (table(("username", "role", "active", "created"),
                  [(s.username, s.role, "yes" if s.active else "no", s.created_at)
                   for s in people])
            + "<h2>Add staff</h2>" + form(
                "/staff/add", session, field("Username", "username", extra="required")
                + f'<label>Role <select name="role" id="role">{roles}</select></label>'
                + field("Password (10+ characters)", "password", kind="password",
                        extra='autocomplete="new-password" required')
                + '<button type="submit" id="add">Add</button>')
            + "<h2>Disable</h2>" + form(
                "/staff/disable", session, field("Username", "username", extra="required")
                + '<button type="submit">Disable</button>')
            + "<h2>Reset password</h2>" + form(
                "/staff/reset-password", session, field("Username", "username",
                                                        extra="required")
                + field("New password", "password", kind="password",
                        extra='autocomplete="new-password" required')
                + '<button type="submit">Reset</button>'))


def public_paths() -> list[tuple[str, str]]:
    return [k for k, v in ENDPOINTS.items() if v is PUBLIC]
