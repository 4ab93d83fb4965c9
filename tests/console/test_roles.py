"""The role x endpoint matrix: every endpoint as every role; exactly the allowed ones succeed.

Each role gets its own card and its own pending adjustments, so what one role did never makes
another role's call fail for a reason other than its role. A refused call changes nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lps.console import audit, cards, replacements
from lps.console.db import open_console as open_db
from lps.console.roles import ENDPOINTS, PUBLIC, ROLES, allowed
from switch.config import load_config
from switch.customers.desk import open_desk
from switch.customers.inputs import EnrolForm
from tests.console.support import (
    Client,
    Console,
    Env,
    add_staff,
    make_env,
    running_switch,
    snapshot,
)
from tests.switch.support import card

LAST = ("POST", "/logout")


def _snapshot(env: Env) -> tuple[object, ...]:
    return snapshot(env)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, dict[str, dict[str, str]]]:
    env = make_env(tmp_path_factory.mktemp("roles"), n_cards=len(ROLES) + 1)
    add_staff(env, "maker", "support")
    params: dict[str, dict[str, str]] = {}
    # Account 1, for the customer's page; it holds each role's card, which a replacement
    # names with its account.
    with open_desk(env.config) as customers:
        customers.enroll(EnrolForm("matrix", "09129999999",
                                   cards=tuple(env.cards[:len(ROLES)])), env.now)
    conn = open_db(env.config.switch.database)
    try:
        for i, role in enumerate(ROLES):
            add_staff(env, f"user-{role}", role)
            add_staff(env, f"victim-{role}", "auditor")
            ids = [cards.request_adjustment(conn, env.config, "maker", env.cards[i], 5000,
                                            "STORE0000000001", "matrix", 1000, env.now).id
                   for _ in range(2)]
            # Card replacements waiting for a checker: of the spare card, which each
            # approval replaces again (a blocked card with no lots may be replaced).
            reps = [replacements.request_replacement(conn, env.config, "maker", None, env.cards[-1],
                                             card(880 + 2 * i + k), "matrix", 0, env.now).id
                    for k in range(2)]
            params[role] = {"pan": env.cards[i], "approve": str(ids[0]),
                            "reject": str(ids[1]), "replace-approve": str(reps[0]),
                            "replace-reject": str(reps[1]), "new": card(870 + i),
                            "mobile": f"0912000000{i}"}
    finally:
        conn.close()
    return env, params


def _call(client: Client, env: Env, role: str, key: tuple[str, str],
          p: dict[str, str]) -> int:
    """Call one endpoint with input that is valid for it; returns the HTTP status."""
    method, path = key
    if method == "GET":
        query = {
            "/settlement/day": {"date": str(env.yesterday)},
            "/settlement/file": {"date": str(env.yesterday), "name": "settlement.json"},
            "/programs/campaign": {"owner": "store:STORE0000000002", "index": "0"},
            "/customer": {"id": "1"},
            "/static/{name}": {},
        }.get(path, {})
        return client.get(path, **query).status
    ref = p.get("ref", "")
    # Campaign edits: against the file as it is now, on the coalition's newest campaign.
    version = hashlib.sha256(env.config_path.read_bytes()).hexdigest()
    last = str(max(len(load_config(env.config_path).coalitions["tehran-mall"].campaigns) - 1, 0))
    campaign = {"version": version, "owner": "coalition:tehran-mall", "from": "2027-01-01",
                "to": "2027-01-31"}
    form = {
        "/programs/campaigns/add": {**campaign, "name": f"matrix {role}", "bonus": "5"},
        "/programs/campaigns/change": {**campaign, "index": last, "name": f"matrix {role} 2"},
        "/programs/campaigns/remove": {**campaign, "index": last},
        "/cards": {"pan": p["pan"]},
        "/cards/reveal": {"card": ref},
        "/cards/block": {"card": ref},
        "/cards/unblock": {"card": ref},
        "/cards/adjust": {"card": ref, "points": "10", "store": "STORE0000000001",
                          "reason": "matrix"},
        "/adjustments/approve": {"id": p["approve"]},
        "/search": {"q": p["mobile"]},
        "/customers/enrol": {"name": f"matrix {role}", "mobile": p["mobile"]},
        "/customer/replace": {"card": ref, "account": "1", "new": p["new"], "reason": "matrix"},
        "/replacements/approve": {"id": p["replace-approve"]},
        "/replacements/reject": {"id": p["replace-reject"]},
        "/adjustments/reject": {"id": p["reject"]},
        "/settlement/run": {"date": str(env.yesterday)},
        "/staff/add": {"username": f"new-{role}", "role": "auditor",
                       "password": "a long password"},
        "/staff/disable": {"username": f"victim-{role}"},
        "/staff/reset-password": {"username": f"victim-{role}", "password": "another password"},
        "/logout": {},
        "/language": {"language": "en", "back": "/"},
    }[path]
    return client.post(path, **form).status


def test_every_endpoint_as_every_role(world: tuple[Env, dict[str, dict[str, str]]]) -> None:
    env, params = world
    with running_switch(env), Console(env) as console:
        # A sealed day for the settlement pages (the settlement role's own run seals it too).
        admin = Client(console.url)
        admin.login("user-admin")
        assert admin.post("/settlement/run", date=str(env.yesterday)).status == 200
        order = sorted((k for k, v in ENDPOINTS.items() if v is not PUBLIC and k != LAST),
                       key=lambda k: (k[1], k[0] == "POST"))
        order.append(LAST)
        results: dict[tuple[str, str, str], int] = {}
        for role in ROLES:
            client = Client(console.url)
            assert client.login(f"user-{role}").status == 303
            p = dict(params[role])
            # A role without card forms still sends a well-formed (unknown) reference.
            p["ref"] = (client.card_ref(p["pan"]) if allowed(role, "POST", "/cards") else
                        "") or "x" * 16
            for key in order:
                before = _snapshot(env)
                status = _call(client, env, role, key, p)
                results[(role, *key)] = status
                if allowed(role, *key):
                    assert status in (200, 303), (role, key, status)
                else:
                    assert status == 403, (role, key, status)
                    assert _snapshot(env) == before, (role, key)
        # Every endpoint was called as every role.
        assert len(results) == len(ROLES) * (len(ENDPOINTS) - sum(
            1 for v in ENDPOINTS.values() if v is PUBLIC))
    # The campaign edits that succeeded really were made (and audited), in order.
    conn = open_db(env.config.switch.database)
    try:
        edits = [(r.actor, r.action) for r in audit.rows(conn, limit=10_000)
                 if r.action.startswith("program.")][::-1]
    finally:
        conn.close()
    assert edits == [(f"staff:user-{role}", f"program.campaign.{a}")
                     for role in ("admin", "marketing") for a in ("add", "change", "remove")]


def test_without_a_session_every_protected_endpoint_sends_to_login(
        world: tuple[Env, dict[str, dict[str, str]]]) -> None:
    env, _ = world
    with Console(env) as console:
        client = Client(console.url)
        for (method, path), roles in ENDPOINTS.items():
            if roles is PUBLIC:
                path = path.replace("{name}", "console.css")
                status = (client.get(path) if method == "GET" else client.post(path)).status
                assert status in (200, 400, 403), (method, path, status)
                continue
            reply = client.get(path) if method == "GET" else client.post_as_given(path)
            assert (reply.status, reply.location) == (303, "/login"), (method, path)


def test_a_post_without_the_csrf_token_is_refused(
        world: tuple[Env, dict[str, dict[str, str]]]) -> None:
    env, _ = world
    with Console(env) as console:
        client = Client(console.url)
        client.login("user-admin")
        for (method, path), roles in ENDPOINTS.items():
            if method != "POST" or roles is PUBLIC:
                continue
            before = _snapshot(env)
            for token in ("", "forged"):
                reply = client.post_as_given(path, **({"csrf": token} if token else {}))
                assert reply.status == 403, (path, token)
                assert "CSRF" in reply.text()
            assert _snapshot(env) == before, path


def test_every_route_has_a_handler_and_a_role_row() -> None:
    from lps.console.web import HANDLERS

    assert set(HANDLERS) == set(ENDPOINTS)
    for roles in ENDPOINTS.values():
        assert roles is PUBLIC or (roles and roles <= set(ROLES))


def test_unknown_path_and_wrong_method(tmp_path: Path) -> None:
    env = make_env(tmp_path, n_cards=1)
    with Console(env) as console:
        client = Client(console.url)
        assert client.get("/nope").status == 404
        assert client.get("/cards/block").status == 405
