"""Campaign editing: the switch's TOML file is rewritten (comments kept, loader-checked,
atomically), every edit is audited with the campaign before and after, stale forms are refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from lps.console import audit, campaign_form, campaigns
from lps.console.db import open_console as open_db
from switch.config import Campaign, load_config
from tests.console.support import Client, Console, Env, add_staff

S2 = "STORE0000000002"
COALITION = "coalition:tehran-mall"


def _version(env: Env) -> str:
    return hashlib.sha256(env.config_path.read_bytes()).hexdigest()


def _audit(env: Env) -> list[audit.AuditRow]:
    conn = open_db(env.config.switch.database)
    try:
        return [r for r in audit.rows(conn) if r.action.startswith("program.")]
    finally:
        conn.close()


def _marketing(env: Env, console: Console) -> Client:
    add_staff(env, "mia", "marketing")
    client = Client(console.url)
    assert client.login("mia").status == 303
    return client


def test_add_change_remove_rewrite_the_file_keep_its_comments_and_are_audited(
        env: Env, console: Console) -> None:
    client = _marketing(env, console)
    page = client.get("/programs")
    assert "takes effect when the switch restarts" in " ".join(page.text().split())
    assert 'name="version"' in page.body and "Read-only" not in page.text()
    original = env.config_path.read_text()
    mode = 0o640
    os.chmod(env.config_path, mode)

    # Add a coalition-wide campaign (the coalition has no campaigns array yet).
    reply = client.post("/programs/campaigns/add", version=_version(env), owner=COALITION,
                        name="Nowruz", **{"from": "2027-03-20", "to": "2027-04-02"},
                        multiplier="2", bonus="", weekdays="4, 5", hour_from="10",
                        hour_to="22", expire_after_days="90")
    text = " ".join(reply.text().split())
    assert reply.status == 200, text
    assert "Campaign Nowruz added to coalition tehran-mall (Tehran Mall Club)" in text
    assert "takes effect when the switch restarts" in text
    config = load_config(env.config_path)
    assert config.coalitions["tehran-mall"].campaigns == (Campaign(
        "Nowruz", dt.date(2027, 3, 20), dt.date(2027, 4, 2), 2.0, 0, (4, 5), (10, 22), 90),)
    after_add = env.config_path.read_text()
    for line in original.splitlines():  # every line of the file is still there, comments too
        assert line in after_add.splitlines(), line
    assert os.stat(env.config_path).st_mode & 0o777 == mode
    assert not [p for p in env.config_path.parent.iterdir() if p.name.endswith(".tmp")]

    # Change the store's existing campaign: a later end, a bonus instead of the multiplier.
    edit = client.get("/programs/campaign", owner=f"store:{S2}", index="0")
    assert edit.status == 200 and 'value="Yalda night"' in edit.body
    # 2026-12-22, shown (and typed) in the Jalali calendar
    assert 'value="1405/10/01"' in edit.body and 'value="3"' in edit.body
    reply = client.post("/programs/campaigns/change", version=_version(env),
                        owner=f"store:{S2}", index="0", name="Yalda week",
                        **{"from": "2026-12-20", "to": "2026-12-27"}, multiplier="",
                        bonus="40")
    assert reply.status == 200, reply.text()
    assert load_config(env.config_path).stores[S2].campaigns == (Campaign(
        "Yalda week", dt.date(2026, 12, 20), dt.date(2026, 12, 27), 1.0, 40),)

    # Remove it: the store keeps an empty array; nothing else in the file moved.
    reply = client.post("/programs/campaigns/remove", version=_version(env),
                        owner=f"store:{S2}", index="0")
    assert reply.status == 200 and "removed from store STORE" in reply.text()
    final = env.config_path.read_text()
    assert load_config(env.config_path).stores[S2].campaigns == ()
    old, new = tomllib.loads(original), tomllib.loads(final)
    new["coalition"]["tehran-mall"].pop("campaigns")
    old["store"][S2].pop("campaigns"), new["store"][S2].pop("campaigns")
    assert old == new
    assert "# every 10th visit is free" in final and "# SQLite, WAL mode" in final

    rows = _audit(env)[::-1]
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("staff:mia", "program.campaign.add", "config:coalition.tehran-mall.campaigns[0]"),
        ("staff:mia", "program.campaign.change", f"config:store.{S2}.campaigns[0]"),
        ("staff:mia", "program.campaign.remove", f"config:store.{S2}.campaigns[0]"),
    ]
    assert json.loads(rows[0].before or "")["campaign"] is None
    assert json.loads(rows[0].after or "")["campaign"] == {
        "name": "Nowruz", "from": "2027-03-20", "to": "2027-04-02", "multiplier": 2.0,
        "bonus": 0, "weekdays": [4, 5], "hours": [10, 22], "expire_after_days": 90}
    changed = json.loads(rows[1].before or ""), json.loads(rows[1].after or "")
    assert changed[0]["campaign"]["name"] == "Yalda night"
    assert changed[0]["campaign"]["multiplier"] == 3.0
    assert changed[1]["campaign"]["name"] == "Yalda week"
    assert changed[1]["campaign"]["bonus"] == 40
    assert json.loads(rows[2].after or "")["campaign"] is None
    # The file digests chain the edits: each one's "after" is the next one's "before".
    assert json.loads(rows[0].before or "")["file_sha256"] == hashlib.sha256(
        original.encode()).hexdigest()
    for a, b in itertools.pairwise(rows):
        assert json.loads(a.after or "")["file_sha256"] == json.loads(b.before or "")[
            "file_sha256"]
    assert json.loads(rows[2].after or "")["file_sha256"] == _version(env)
    conn = open_db(env.config.switch.database)
    try:
        assert audit.verify(conn)[1] is None
    finally:
        conn.close()


def test_a_form_from_before_another_edit_is_refused(env: Env, console: Console) -> None:
    client = _marketing(env, console)
    stale = _version(env)
    assert client.post("/programs/campaigns/add", version=stale, owner=f"store:{S2}",
                       name="first", **{"from": "2027-01-01", "to": "2027-01-02"},
                       bonus="5").status == 200
    before = env.config_path.read_bytes()
    reply = client.post("/programs/campaigns/change", version=stale, owner=f"store:{S2}",
                        index="0", name="clobber", **{"from": "2027-01-01", "to": "2027-01-02"})
    assert reply.status == 400 and "has changed since this page was loaded" in reply.text()
    # The form comes back with what was typed, still tied to the stale version.
    assert 'value="clobber"' in reply.body and f'value="{stale}"' in reply.body
    assert env.config_path.read_bytes() == before
    assert len(_audit(env)) == 1


def test_an_array_of_tables_gets_a_table_and_a_symlinked_file_stays_a_symlink(
        env: Env, tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    text = env.config_path.read_text().replace(
        "[[coalition.tehran-mall.tiers]]\nname = \"BLUE\"",
        "[[coalition.tehran-mall.campaigns]]  # launch\nname = \"Launch\"\n"
        "from = \"2026-11-01\"\nto = \"2026-11-30\"\nbonus = 10\n\n"
        "[[coalition.tehran-mall.tiers]]\nname = \"BLUE\"", 1)
    real.write_text(text)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    cur = campaigns.read(link)
    edit = campaigns.plan(cur, COALITION, "add", None, campaign_form.parse_form(
        {"name": "Second", "from": "2026-12-01", "to": "2026-12-31", "multiplier": "1.5"}))
    conn = open_db(env.config.switch.database)
    try:
        campaigns.commit(conn, cur, edit, "staff:test", "2026-11-23T10:00:00+00:00")
    finally:
        conn.close()
    assert link.is_symlink()
    written = real.read_text()
    assert written.count("[[coalition.tehran-mall.campaigns]]") == 2
    assert "# launch" in written
    assert [k.name for k in load_config(link).coalitions["tehran-mall"].campaigns] == [
        "Launch", "Second"]


def test_a_write_that_fails_leaves_file_and_audit_log_unchanged(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    cur = campaigns.read(env.config_path)
    edit = campaigns.plan(cur, f"store:{S2}", "remove", 0, None)

    def full_disk(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(campaigns, "write_atomic", full_disk)
    conn = open_db(env.config.switch.database)
    try:
        n = len(audit.rows(conn))
        with pytest.raises(campaigns.EditError, match="No space left on device; nothing"):
            campaigns.commit(conn, cur, edit, "staff:test", "2026-11-23T10:00:00+00:00")
        assert len(audit.rows(conn)) == n
    finally:
        conn.close()
    assert env.config_path.read_text() == cur.text


def test_a_hand_edit_that_broke_the_file_blocks_editing_and_is_said(
        env: Env, console: Console) -> None:
    client = _marketing(env, console)
    version = _version(env)
    env.config_path.write_text(env.config_path.read_text() + "\n[store.X]\nbogus = 1\n")
    page = client.get("/programs")
    assert page.status == 200
    assert "is not valid as it is now" in page.text() and "fix it by hand" in page.text()
    assert 'name="version"' not in page.body  # no edit forms on a broken file
    broken = env.config_path.read_bytes()
    reply = client.post("/programs/campaigns/add", version=version, owner=f"store:{S2}",
                        name="x", **{"from": "2027-01-01", "to": "2027-01-02"})
    assert reply.status == 400 and "fix it by hand" in reply.text()
    assert env.config_path.read_bytes() == broken and _audit(env) == []


def test_the_auditor_reads_the_file_without_forms(env: Env, console: Console) -> None:
    add_staff(env, "aud", "auditor")
    client = Client(console.url)
    client.login("aud")
    page = client.get("/programs")
    assert page.status == 200 and "Read-only" in page.text()
    assert "Yalda night" in page.text()
    assert not re.search(r'action="/programs/campaigns/', page.body)
    assert "/programs/campaign?" not in page.body


def test_a_persian_campaign_name_and_persian_digits(env: Env, console: Console) -> None:
    """ZWNJ and Persian letters in the name (stored normalised), Persian digits in every
    number and date of the form (read as ASCII before anything is written)."""
    client = _marketing(env, console)
    fa = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    reply = client.post("/programs/campaigns/add", version=_version(env), owner=COALITION,
                        name="جشنواره‌ی يلدا", **{"from": "2026-12-20".translate(fa),
                                                  "to": "2026-12-22".translate(fa)},
                        multiplier="۱٫۵", bonus="۴۰", weekdays="۴، ۵", hour_from="۱۰",
                        hour_to="۲۲", expire_after_days="۹۰")
    assert reply.status == 200, reply.text()
    camp, = load_config(env.config_path).coalitions["tehran-mall"].campaigns
    assert camp == Campaign("جشنواره\u200cی یلدا", dt.date(2026, 12, 20),
                            dt.date(2026, 12, 22), 1.5, 40, (4, 5), (10, 22), 90)
    assert "۱" not in env.config_path.read_text()  # no Persian digit reached the file
    before = env.config_path.read_text()
    for field, value in (("name", "a\u202eb"), ("name", "two\nlines"), ("bonus", "۴x"),
                         ("weekdays", "²"), ("from", "۲۰۲۶-۱۳-۰۱"), ("multiplier", "1e3")):
        form = {"name": "ok", "from": "2026-12-20", "to": "2026-12-22", field: value}
        reply = client.post("/programs/campaigns/add", version=_version(env), owner=COALITION,
                            **form)
        assert reply.status == 400 and field.split("_")[0] in reply.text(), (field, value)
    assert env.config_path.read_text() == before
