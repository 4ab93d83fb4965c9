"""Every mutating `lps` command leaves one audit row (who, what, on what, before, after) after
its change succeeded; refusals leave none; no full card number, key or PIN reaches the log."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import getpass
import json
import sqlite3
import subprocess
from typing import Any

import pytest

from lps.console import audit
from lps.console.db import open_console as open_db
from switch.core.luhn import mask_pan
from tests.console.support import Env, start_switch
from tests.security.support import lps
from tests.switch.support import T1, T2, card
from tests.waits import EVENT

BDK = "0123 4567 89AB CDEF FEDC BA98 7654 3210\n" + "0000 " * 8 + "\n"


@pytest.fixture(autouse=True)
def _no_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUDO_USER", raising=False)


def _rows(env: Env) -> list[audit.AuditRow]:
    conn = open_db(env.config.switch.database)
    try:
        return audit.rows(conn, limit=10_000)
    finally:
        conn.close()


class Log:
    """The rows a command added; checks the chain and that no secret reached the table."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.seen = len(_rows(env))

    def new(self) -> list[audit.AuditRow]:
        rows = _rows(self.env)
        added = rows[:len(rows) - self.seen]
        self.seen = len(rows)
        conn = open_db(self.env.config.switch.database)
        try:
            assert audit.verify(conn) == (len(rows), None)
        finally:
            conn.close()
        return added

    def one(self, action: str, target: str) -> tuple[Any, Any]:
        """The single new row: its actor, action and target checked; (before, after)."""
        added = self.new()
        assert len(added) == 1, [(r.action, r.target) for r in added]
        row = added[0]
        assert (row.actor, row.action, row.target) == (f"cli:{getpass.getuser()}", action,
                                                       target)
        return (None if row.before is None else json.loads(row.before),
                None if row.after is None else json.loads(row.after))

    def text(self) -> str:
        """Every column a person reads (the hashes are hex and may hold any digits)."""
        return "\n".join(f"{r.actor} {r.action} {r.target} {r.before} {r.after}"
                         for r in _rows(self.env))


def _lps(env: Env, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    return lps(*argv, "--config", str(env.config_path), stdin=stdin)


def _status(env: Env, pan: str) -> str | None:
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        row = conn.execute("SELECT status FROM cards WHERE pan = ?", (pan,)).fetchone()
    return None if row is None else str(row[0])


def test_card_commands_with_the_switch_stopped(env: Env) -> None:
    log = Log(env)
    pan = env.cards[0]
    target = f"card:{mask_pan(pan)}"
    code, _, err = _lps(env, "cards", "block", pan)
    assert code == 0, err
    assert log.one("card.block", target) == ({"status": "active", "coalition": "tehran-mall"},
                                             {"status": "blocked", "coalition": "tehran-mall"})
    assert _lps(env, "cards", "unblock", pan)[0] == 0
    assert log.one("card.unblock", target) == ({"status": "blocked", "coalition": "tehran-mall"},
                                               {"status": "active", "coalition": "tehran-mall"})
    new = card(700)
    assert _lps(env, "cards", "enroll", new)[0] == 0
    assert log.one("card.enroll", f"card:{mask_pan(new)}") == (
        None, {"status": "active", "coalition": "tehran-mall"})
    # With a profile: the enrolment and the profile are two changes, each audited once done;
    # the profile's row names the fields, not the customer's personal data.
    other = card(701)
    assert _lps(env, "cards", "enroll", other, "--name", "Neda Ahmadi", "--phone",
                "+989121234567")[0] == 0
    rows = log.new()
    assert [(r.action, r.target) for r in rows] == [("card.profile", f"card:{mask_pan(other)}"),
                                                    ("card.enroll", f"card:{mask_pan(other)}")]
    assert json.loads(rows[0].after or "") == {"fields": ["name", "phone"]}
    # Refused: not a card number, not enrolled, enrolled twice, a bad profile.
    assert _lps(env, "cards", "block", "1234")[0] == 3
    assert _lps(env, "cards", "block", card(702))[0] == 1
    assert _lps(env, "cards", "enroll", new)[0] == 1
    assert _lps(env, "cards", "enroll", card(703), "--phone", "12ab")[0] == 3
    assert log.new() == []
    assert _lps(env, "balance", pan)[0] == 0  # read-only: no row
    assert log.new() == []
    assert not any(p in log.text() for p in (*env.cards, new, other))
    assert "Neda" not in log.text() and "989121234567" not in log.text()


def test_card_block_through_the_running_switch(env: Env) -> None:
    log = Log(env)
    pan = env.cards[1]
    proc = start_switch(env)
    try:
        code, _, err = _lps(env, "cards", "block", pan)
        assert code == 0, err
        assert log.one("card.block", f"card:{mask_pan(pan)}") == (
            {"status": "active", "coalition": "tehran-mall"},
            {"status": "blocked", "coalition": "tehran-mall"})
        assert _lps(env, "cards", "block", "6280000000000000")[0] == 3  # Luhn: refused
        assert log.new() == []
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(EVENT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _status(env, pan) == "blocked"
    assert pan not in log.text()


def test_keys_and_pins(env: Env) -> None:
    log = Log(env)
    code, out, err = _lps(env, "keys", "new-terminal", T1)
    assert code == 0, err
    kcv = out.split("check value ")[1].split()[0]
    components = [line.split("component ")[1][2:].split("check value")[0].replace(" ", "")
                  for line in out.splitlines() if line.startswith("  component ")]
    assert log.one("keys.new-terminal", f"terminal:{T1}") == (None, {"tmk_kcv": kcv})
    code, out, err = _lps(env, "keys", "load-bdk", T1, T2, stdin=BDK)
    assert code == 0, err
    assert log.one("keys.load-bdk", f"terminal:{T1},{T2}") == (None, {"bdk_kcv": "08D7B4"})
    pan = env.cards[2]
    assert _lps(env, "pin", "set", pan, stdin="9731\n")[0] == 0
    assert log.one("pin.set", f"card:{mask_pan(pan)}") == (None, None)
    assert _lps(env, "pin", "reset", pan)[0] == 0
    assert log.one("pin.reset", f"card:{mask_pan(pan)}") == (None, None)
    # Refused: an unknown terminal, one BDK component, a card not enrolled, not a card number.
    assert _lps(env, "keys", "new-terminal", "T9")[0] == 1
    assert _lps(env, "keys", "load-bdk", T1, "T9", stdin=BDK)[0] == 1
    assert _lps(env, "keys", "load-bdk", T1, stdin="00\n")[0] == 1
    assert _lps(env, "pin", "set", card(704), stdin="1234\n")[0] == 1
    assert _lps(env, "pin", "reset", "1234")[0] == 3
    assert _lps(env, "keys", "show")[0] == 0  # read-only: no row
    assert log.new() == []
    text = log.text().upper()
    for secret in (*components, BDK.replace(" ", "").split()[0], "9731", pan):
        assert secret.upper() not in text


def test_bulk_issue_and_draw(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    log = Log(env)
    out = env.root / "print.csv"
    assert _lps(env, "cards-issue", "--bin", "628000", "--count", "3", "--out", str(out))[0] == 0
    issued = [r["pan"] for r in csv.DictReader(out.open())]
    assert log.one("cards.issue", "bin:628000") == (None, {
        "count": 3, "first": mask_pan(issued[0]), "last": mask_pan(issued[-1]),
        "file": str(out)})
    assert _lps(env, "cards-issue", "--bin", "628000", "--count", "1", "--out", str(out))[0] == 1
    assert _lps(env, "cards-issue", "--bin", "62800x", "--count", "1",
                "--out", str(env.root / "bad.csv"))[0] == 3
    assert log.new() == []

    from lps import draw_cli

    d = env.root / "draw"
    day = env.yesterday.isoformat()
    monkeypatch.setattr(draw_cli, "today", lambda config: env.yesterday - dt.timedelta(days=1))
    assert _lps(env, "draw-commit", "--coalition", "tehran-mall", "--date", day, "--entries",
                "card", "--out", str(d))[0] == 0
    commitment = json.loads((d / "commitment.json").read_text())
    assert log.one("draw.commit", f"draw:tehran-mall/{day}") == (None, {
        "seed_sha256": commitment["seed_sha256"], "winners": 1, "entries_by": "card",
        "beacon": None})
    monkeypatch.setattr(draw_cli, "today", lambda config: env.yesterday + dt.timedelta(days=1))
    assert _lps(env, "draw", str(d))[0] == 0
    result = json.loads((d / "result.json").read_text())
    before, after = log.one("draw.run", f"draw:tehran-mall/{day}")
    assert before is None
    assert after == {"seed_sha256": commitment["seed_sha256"],
                     "entries_sha256": result["entries_sha256"], "members": len(env.cards),
                     "beacon_value": None, "winners": result["winners"]}
    assert _lps(env, "draw", str(d))[0] == 1  # drawn once
    assert log.new() == []
    text = log.text()
    assert not any(p in text for p in (*issued, *env.cards)) and result["seed"] not in text


def test_settle_and_reopen(env: Env) -> None:
    log = Log(env)
    day = env.yesterday.isoformat()
    out = env.root / "settled"

    def settle(*extra: str) -> int:
        return _lps(env, "settle", "--date", day, "--out", str(out), "--no-progress", *extra)[0]

    assert settle() == 0
    before, after = log.one("settle.run", f"settlement:{day}")
    first = after["inputs_digest"]
    sealed = str((out / day).resolve())
    assert before is None and after == {"inputs_digest": first, "status": "first",
                                        "out": sealed, "set_aside": None}
    assert settle() == 0  # identical inputs: the sealed files stay, audited as a run
    assert log.one("settle.run", f"settlement:{day}")[1]["status"] == "identical"
    # The journal gains an entry for that day: refused unless reopened, and then audited.
    pan = env.cards[4]
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn, conn:
        conn.execute(
            "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
            "pan, amount, points, sv, response_code) SELECT MAX(id) + 1, ?, ?, 'inquiry', "
            "'0200', '310000', ?, 'STORE0000000001', ?, 0, 0, 0, '00' FROM journal",
            (f"{day}T12:00:00+00:00", day, T1, pan))
    assert settle() == 4
    assert log.new() == []
    assert settle("--reopen") == 0
    before, after = log.one("settle.reopen", f"settlement:{day}")
    assert before == {"inputs_digest": first, "out": sealed}
    assert after["status"] == "reopened" and after["inputs_digest"] != first
    assert after["set_aside"] == f"{sealed}.replaced-1"


def test_sudo_names_both_users(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "custodian-ann")
    assert _lps(env, "cards", "block", env.cards[5])[0] == 0
    assert _rows(env)[0].actor == f"cli:{getpass.getuser()} (sudo by custodian-ann)"


def test_an_audit_row_that_cannot_be_written_fails_the_command(env: Env) -> None:
    """The card is blocked all the same (the change came first); the exit code and the message
    say so, so the operator records it by hand instead of believing nothing happened."""
    conn = open_db(env.config.switch.database)
    try:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_log "
                     "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    finally:
        conn.close()
    log = Log(env)
    pan = env.cards[6]
    code, out, err = _lps(env, "cards", "block", pan)
    assert code == audit.EXIT_AUDIT
    assert "card.block" in err and "WAS DONE" in err and "disk I/O error" in err
    assert "block: done" in out
    assert _status(env, pan) == "blocked"
    assert log.new() == []
