"""`lps cards replace OLD NEW --reason`: with the switch stopped (the journal appends both rows
at once) and through a running `lps serve` (its admin socket); the customer account follows the
card; refusals exit non-zero with nothing changed and no audit row."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from lps.console import audit
from lps.console.db import open_console
from switch.core.luhn import mask_pan
from switch.customers.desk import open_desk
from switch.customers.inputs import EnrolForm
from tests.console.support import Env, running_switch
from tests.security.support import lps
from tests.switch.support import card


@pytest.fixture(autouse=True)
def _no_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUDO_USER", raising=False)


def _lps(env: Env, *argv: str) -> tuple[int, str, str]:
    return lps(*argv, "--config", str(env.config_path))


def _cards(env: Env, *pans: str) -> dict[str, tuple[str, int]]:
    """pan -> (status, points on its live lots)."""
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        return {pan: (str(row[0]), int(row[1])) for pan in pans for row in conn.execute(
            "SELECT c.status, COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.pan = c.pan "
            "AND l.kind = 'points'), 0) FROM cards c WHERE c.pan = ?", (pan,))}


def _audit(env: Env) -> list[audit.AuditRow]:
    conn = open_console(env.config.switch.database)
    try:
        return [r for r in audit.rows(conn, limit=10_000) if r.action == "card.replace"]
    finally:
        conn.close()


def _account(env: Env, pan: str) -> int:
    with open_desk(env.config) as desk:
        return desk.enroll(EnrolForm("نگار رضایی", "09121112233", cards=(pan,)),
                           env.now).id


def _owner(env: Env, pan: str) -> int | None:
    with open_desk(env.config) as desk:
        return desk.customers.owner(pan)


def test_replace_with_the_switch_stopped(env: Env) -> None:
    old, new = env.cards[0], card(720)
    points = _cards(env, old)[old][1]
    account = _account(env, old)
    code, out, err = _lps(env, "cards", "replace", old, new, "--reason", "گم شده")
    assert code == 0, err
    assert _cards(env, old, new) == {old: ("blocked", 0), new: ("active", points)}
    assert _owner(env, new) == account and _owner(env, old) == account
    assert f"customer account {account}" in out
    (row,) = _audit(env)
    assert row.target == f"card:{mask_pan(old)}"
    assert json.loads(row.after or "")["replaced_by"] == mask_pan(new)
    assert old not in out + err and old not in f"{row.before}{row.after}"
    assert _lps(env, "check")[0] == 0


def test_replace_through_the_running_switch(env: Env) -> None:
    old, new = env.cards[1], card(721)
    points = _cards(env, old)[old][1]
    with running_switch(env):
        code, _, err = _lps(env, "cards", "replace", old, new, "--reason", "lost")
        assert code == 0, err
        # The running switch's cache has it: the new card is known, the old one blocked.
        code, out, _ = _lps(env, "balance", new)
        assert code == 0 and f"{points} available" in out
        assert _lps(env, "cards", "replace", old, card(722), "--reason", "again")[0] == 0
    assert _cards(env, old, new, card(722)) == {old: ("blocked", 0), new: ("active", points),
                                                card(722): ("active", 0)}
    assert len(_audit(env)) == 2
    assert _lps(env, "check")[0] == 0
    # A switch started again recovers the replacement from the journal (its start-up checks
    # the invariants): the new card holds the points, the old one is declined as blocked.
    with running_switch(env):
        code, out, _ = _lps(env, "balance", new)
        assert code == 0 and f"{points} available" in out
        code, out, _ = _lps(env, "balance", old)
        assert code == 0 and "status blocked" in out and "0 available" in out


@pytest.mark.parametrize(("argv", "code"), [
    (("NEW_IS_OLD",), 1),
    (("IN_USE",), 1),
    (("6280000000000000",), 2),          # Luhn: argparse refuses the number
    (("4111111111111111",), 1),          # outside the coalition's BINs
    (("UNKNOWN_OLD",), 1),
    (("NEW", "--reason", "\u202eevil"), 3),
])
def test_refusals_change_nothing(env: Env, argv: tuple[str, ...], code: int) -> None:
    old = env.cards[2]
    words = {"NEW_IS_OLD": old, "IN_USE": env.cards[3], "NEW": card(723)}
    before = _cards(env, *env.cards)
    if argv[0] == "UNKNOWN_OLD":
        args = ["cards", "replace", card(724), card(725), "--reason", "lost"]
    else:
        args = ["cards", "replace", old, words.get(argv[0], argv[0]), *argv[1:]]
        if len(argv) == 1:
            args += ["--reason", "lost"]
    got, out, err = _lps(env, *args)
    assert got != 0 and (got == code or (code == 2 and got in (2, 3))), (got, out, err)
    assert _cards(env, *env.cards) == before
    assert _audit(env) == []
    assert not any(p in out + err for p in env.cards)


def test_replace_needs_two_numbers_and_a_reason(env: Env) -> None:
    assert _lps(env, "cards", "replace", env.cards[0])[0] != 0
    assert _lps(env, "cards", "block", env.cards[0], card(726))[0] != 0
    assert _cards(env, env.cards[0])[env.cards[0]][0] == "active"


