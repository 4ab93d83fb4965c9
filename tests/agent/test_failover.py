"""Switch failover with real switches (docs/agent.md "Switch failover"): two `lps serve`
processes on two databases (one switch per database is enforced), the real agent with a list
of both, a virtual card in pcscd/vpcd, a real mosquitto for the fleet status.

Two databases show the agent's side: where it goes, that it signs on and exchanges keys again,
and where its reversals and advices land. Balances are read from each switch with `lps
balance`; a card's points over both databases must equal what its register was told.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, Unpack

import pytest

from terminal_agent.testing.vicc import VPCD_READERS
from tests.waits import EVENT

from .conftest import InsertCard, Mosquitto
from .harness import AgentOptions, AgentProc, Switch, new_terminal_key
from .mqttwatch import Watch, check_schemas
from .netpath import HoldingPath
from .test_e2e import PAN, resp

PAN2 = "6280007654321002"
BASE = "lps/v1/terminals/T0000001"


@pytest.fixture
def two_switches(tmp_path: Path) -> Iterator[tuple[Switch, Switch]]:
    a, b = Switch(tmp_path / "a"), Switch(tmp_path / "b")
    yield a, b
    a.stop()
    b.stop()


class AgentOfHosts(Protocol):
    """The `agents` fixture: an agent with a list of switches, on the first vpcd reader unless
    told otherwise."""

    def __call__(self, hosts: list[str], **kw: Unpack[AgentOptions]) -> AgentProc: ...


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentOfHosts]:
    made: list[AgentProc] = []

    def make(hosts: list[str], **kw: Unpack[AgentOptions]) -> AgentProc:
        kw.setdefault("reader", VPCD_READERS[0])
        agent = AgentProc(tmp_path / f"agent{len(made)}", hosts, **kw)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def _is(kind: str, old: str, new: str) -> Callable[[str, Any], bool]:
    return lambda t, d: (t.endswith("/events") and d.get("type") == kind
                         and (d.get("from"), d.get("to")) == (old, new))


def _on(address: str) -> Callable[[str, Any], bool]:
    return lambda t, d: (t.endswith("/status") and d.get("switch") == address
                         and d.get("link") == "signed-on")


def test_hung_first_switch_passed_over_then_failback_and_a_live_host_list(
        two_switches: tuple[Switch, Switch], agents: AgentOfHosts, vcard: InsertCard,
        mosquitto: Mosquitto) -> None:
    a, b = two_switches
    a.start()
    b.start()
    a.freeze()  # accepts connections, answers nothing
    vcard(pan=PAN)
    # The request timeout is short only while A hangs (the sign-on to it and the failback
    # check must time out there), and EVENT for the requests a running switch answers. It
    # also bounds B's first sign-on, announced as the failover only once B answered it: 5 s
    # leaves room for a loaded machine (at 2 s, one run at load 14 saw no failover in a minute).
    agent = agents([a.address, b.address], mqtt=mosquitto.url, request_timeout=5,
                   failback_after=1)

    async def run() -> None:
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/#") as w:
            await asyncio.to_thread(agent.start_ready)
            moved = await w.wait(_is("failover", a.address, b.address))
            assert f"sign-on to {a.address} failed" in moved["reason"]
            st = await w.wait(_on(b.address))
            assert st["hosts"] == [a.address, b.address]

            # a check of the hung switch finds it still silent; once it answers again, the next
            # check finds it and the agent goes back
            await asyncio.to_thread(agent.wait_log, f"the first switch {a.address} is still "
                                    "unavailable (no answer to a sign-on", agent.started_at)
            await asyncio.to_thread(agent.configure_live, request_timeout_seconds=EVENT)
            earn = resp(await asyncio.to_thread(agent.ask, "EARN", "250000", "F1"))
            assert (earn["code"], earn["balance"]) == ("00", 25), earn
            n = len(w.seen)
            a.thaw()
            back = await w.wait(_is("failback", b.address, a.address), after=n)
            assert a.address in back["reason"]
            await w.wait(_on(a.address), after=n)
            earn = resp(await asyncio.to_thread(agent.ask, "EARN", "100000", "F2"))
            assert (earn["code"], earn["balance"]) == ("00", 10), earn  # A's own database

            # an operator puts B first: the agent stays on A, which is now a later address,
            # and the failback rule takes it to B
            n = len(w.seen)
            await w.publish(f"{BASE}/config", {"hosts": [b.address, a.address]}, retain=True)
            applied = await w.wait(lambda t, d: t.endswith("/events")
                                   and d.get("type") == "config-applied", after=n)
            assert "hosts" in applied["detail"]
            await w.wait(_is("failback", a.address, b.address), after=n)
            await w.wait(lambda t, d: _on(b.address)(t, d) and d["hosts"] == [b.address,
                                                                               a.address],
                         after=n)
            bal = resp(await asyncio.to_thread(agent.ask, "BAL"))
            assert (bal["code"], bal["balance"]) == ("00", 25)
            await w.wait(lambda t, d: t.endswith("/events") and d.get("request") == "BAL")
            assert check_schemas(w.seen) >= 12

    asyncio.run(run())
    assert PAN not in agent.log.read_text()
    assert (a.balance(PAN), b.balance(PAN)) == (10, 25)


def test_key_exchange_again_on_the_second_switch(tmp_path: Path, agents: AgentOfHosts,
                                                 vcard: InsertCard) -> None:
    a = Switch(tmp_path / "a", require_mac=True)
    b = Switch(tmp_path / "b", require_mac=True)
    comps, kcv = new_terminal_key(a, "T0000001")
    b.take_keys_of(a)  # one terminal master key known to both, as to nodes of one switch
    a.start()
    b.start()
    try:
        vcard(pan=PAN)
        keys = ", ".join(f'"{c}"' for c in comps)
        agent = agents([a.address, b.address], failback_after=0,
                       extra=f'tmk_components = [{keys}]\ntmk_kcv = "{kcv}"\n')
        agent.start()
        agent.wait_log(f"signed on to {a.address}", agent.started_at)
        first_key = re.findall(r"session MAC key installed \(KCV (\w+)\)",
                               agent.log.read_text())
        assert len(first_key) == 1
        earn = resp(agent.ask("EARN", "120000", "M1"))
        assert (earn["code"], earn["balance"]) == ("00", 12), earn

        mark = agent.mark()
        a.kill9()
        agent.wait_log(f"signed on to {b.address}", mark)
        since = agent.log.read_bytes()[mark:].decode()
        assert f"failover: switch {a.address} -> {b.address}" in since
        assert "session MAC key installed" in since  # a new session key, from B
        # B insists on a MAC (an unkeyed request would be declined 63): this one carries B's key
        earn = resp(agent.ask("EARN", "70000", "M2"))
        assert (earn["code"], earn["earned"], earn["balance"]) == ("00", 7, 7), earn
        keys_now = re.findall(r"session MAC key installed \(KCV (\w+)\)", agent.log.read_text())
        assert len(keys_now) == 2 and keys_now[0] == first_key[0]
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("fate", ["decided-late", "killed"])
def test_burn_timed_out_on_the_first_is_reversed_on_the_second_before_anything_new(
        fate: str, two_switches: tuple[Switch, Switch], agents: AgentOfHosts, vcard: InsertCard,
        mosquitto: Mosquitto) -> None:
    """A hung switch gets a burn; the agent answers XO, moves on and reverses the burn on B
    before the next request. B never saw the burn (25): the reversal is kept for A and sent
    there after the failback. A either decides the burn late when it runs again (the reversal
    undoes it) or is killed and never reads it (25 on A too: harmless)."""
    a, b = two_switches
    a.start()
    b.start()
    vcard(pan=PAN)
    agent = agents([a.address, b.address], mqtt=mosquitto.url, failback_after=1)
    agent.start()
    agent.wait_log(f"signed on to {a.address}", agent.started_at)
    assert resp(agent.ask("EARN", "500000", "R1"))["balance"] == 50

    # Only while A hangs is the request timeout short: the burn must time out there.
    agent.configure_live(request_timeout_seconds=2)
    a.freeze()
    mark = agent.mark()
    burn = resp(agent.ask("BURN", "20000", "R2"))  # 20 points; no answer in 2 s
    assert burn["code"] == "XO", burn
    agent.wait_log(f"signed on to {b.address}", mark)
    agent.wait_log(f"answered 25 by {b.address}, but its original went to {a.address}", mark)
    agent.configure_live(request_timeout_seconds=EVENT)
    earn = resp(agent.ask("EARN", "30000", "R3"))
    assert (earn["code"], earn["earned"], earn["balance"]) == ("00", 3, 3), earn
    assert b.journal(PAN) == [("reversal", "25"), ("earn", "00")]  # the reversal went first
    assert agent.outbox() == {"reversal": 1}  # kept for A

    if fate == "killed":
        a.kill9()  # still stopped: the burn in its socket is never read
        a.start()
    else:
        a.thaw()  # A reads the burn and approves it, to a connection the agent has closed
    agent.wait_log(f"failback: switch {b.address} -> {a.address}", mark)
    agent.wait_drained()
    log = agent.log.read_bytes()[mark:].decode()
    code = "00" if fate == "decided-late" else "25"
    assert re.search(rf"0401 STAN \d{{6}} answered {code} by {re.escape(a.address)}", log), log
    if fate == "decided-late":
        assert a.journal(PAN) == [("earn", "00"), ("redeem", "00"), ("reversal", "00")]
    else:
        assert a.journal(PAN) == [("earn", "00"), ("reversal", "25")]
    assert resp(agent.ask("BAL"))["balance"] == 50  # on A again: the burn has no effect
    assert (a.balance(PAN), b.balance(PAN)) == (50, 3)


def test_first_switch_killed_with_answers_in_flight_nothing_lost_or_doubled(
        two_switches: tuple[Switch, Switch], agents: AgentOfHosts, vcard: InsertCard) -> None:
    """Two terminals through a network path that holds A's answers back: each has a request
    that A has decided and made durable when A is killed with SIGKILL. The agents answer
    XQ/XO, move to B (the earn goes there as an advice, the reversals are kept for A), and
    after A is restarted go back and reverse on A what A had done. Over both databases each
    card holds exactly what its register was told."""
    a, b = two_switches
    a.start()
    b.start()
    path = HoldingPath(a.port)
    try:
        vcard(pan=PAN, slot=0)
        vcard(pan=PAN2, slot=1)
        hosts = [path.address, b.address]
        one = agents(hosts, failback_after=1)
        two = agents(hosts, failback_after=1, reader=VPCD_READERS[1], terminal_id="T0000003",
                     store_id="STORE0000000003")  # 1 point per 20,000 IRR
        for agent in (one, two):
            agent.start()
            agent.wait_log(f"signed on to {path.address}", agent.started_at)
        assert resp(one.ask("EARN", "500000", "K1"))["balance"] == 50
        assert resp(two.ask("EARN", "800000", "K2"))["balance"] == 40
        marks = one.mark(), two.mark()

        path.hold_replies()
        with ThreadPoolExecutor(2) as pool:
            earn = pool.submit(one.ask, "EARN", "200000", "K3")  # 20 points
            burn = pool.submit(two.ask, "BURN", "30000", "K4")  # 30 points
            path.wait_held(2)  # both approved and durable on A; neither agent knows
            a.kill9()
            earned, burnt = resp(earn.result()), resp(burn.result())
        path.release()
        assert earned["code"] == "XQ" and burnt["code"] == "XO", (earned, burnt)

        for agent, mark in zip((one, two), marks, strict=True):
            agent.wait_log(f"signed on to {b.address}", mark)
            agent.wait_log("kept until that switch answers", mark)
        more = resp(two.ask("EARN", "200000", "K5"))  # on B: 10 points
        assert (more["code"], more["balance"]) == ("00", 10), more
        one.wait_log("0220 STAN", marks[0])
        assert b.journal(PAN) == [("reversal", "25"), ("advice", "00")]

        a.start()
        for agent, mark in zip((one, two), marks, strict=True):
            agent.wait_log(f"failback: switch {b.address} -> {path.address}", mark)
            agent.wait_drained()
        assert a.journal(PAN) == [("earn", "00"), ("earn", "00"), ("reversal", "00")]
        assert a.journal(PAN2) == [("earn", "00"), ("redeem", "00"), ("reversal", "00")]
        assert resp(one.ask("BAL"))["balance"] == 50
        assert resp(two.ask("BAL"))["balance"] == 40
        # approved + queued, once each; the burn the register was told failed took nothing
        assert a.balance(PAN) + b.balance(PAN) == 50 + 20
        assert a.balance(PAN2) + b.balance(PAN2) == 40 + 10
    finally:
        path.close()
