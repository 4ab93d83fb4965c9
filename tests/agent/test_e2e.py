"""End to end with every real part: register (pty) -> lps-agent -> card via pcscd/vpcd ->
the switch (`python -m lps.cli serve`) -> register answer; offline queueing, kill -9,
reversals of a hung switch, and MQTT status."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, Unpack

import pytest

from terminal_agent.testing.services import wait_until
from terminal_agent.testing.vicc import VPCD_READERS
from tests.waits import EVENT

from .conftest import InsertCard, Mosquitto, wait_presence
from .harness import AgentOptions, AgentProc, Switch, new_terminal_key, self_signed
from .mqttwatch import Watch, check_schemas
from .register import fields

READER = VPCD_READERS[0]
PAN = "6280001234567895"


def resp(parts: list[str]) -> dict[str, object]:
    assert parts[0] == "RESP" and len(parts) == 7, parts
    num: Callable[[str], int | None] = lambda v: int(v) if v else None  # noqa: E731
    return {"code": parts[1], "rrn": parts[2], "earned": num(parts[3]),
            "redeemed": num(parts[4]), "balance": num(parts[5]), "message": parts[6]}


@pytest.fixture
def switch(tmp_path: Path) -> Iterator[Switch]:
    sw = Switch(tmp_path / "switch")
    yield sw
    sw.stop()


class AgentOfSwitch(Protocol):
    """The `agent_factory` fixture: an agent of `switch`, on READER unless told otherwise."""

    def __call__(self, switch: Switch, **kw: Unpack[AgentOptions]) -> AgentProc: ...


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[AgentOfSwitch]:
    agents: list[AgentProc] = []

    def make(switch: Switch, **kw: Unpack[AgentOptions]) -> AgentProc:
        kw.setdefault("reader", READER)
        a = AgentProc(tmp_path / f"agent{len(agents)}", switch.address, **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.close()


def test_earn_burn_balance_through_every_part(switch: Switch, agent_factory: AgentOfSwitch,
                                              vcard: InsertCard) -> None:
    switch.start()
    card = vcard(pan=PAN)
    agent = agent_factory(switch)
    agent.start()
    agent.wait_signed_on()

    # a broken and an unknown frame are NAKed; the agent carries on
    agent.register.write(b"\x02EARN\x1c1\x1cX\x03\x00")
    assert agent.register.read_byte() == b"\x15"
    assert agent.register.send(b"PAY\x1c100") == b"\x15"

    earn = resp(agent.ask("EARN", "250000", "INV-1"))
    assert earn["code"] == "00", earn
    assert earn["earned"] == 25 and earn["balance"] == 25  # 1 point per 10,000 IRR
    assert len(str(earn["rrn"])) == 12

    burn = resp(agent.ask("BURN", "10000", "INV-2"))  # point value 1000 IRR: 10 points
    assert (burn["code"], burn["redeemed"], burn["balance"]) == ("00", 10, 15), burn

    too_much = resp(agent.ask("BURN", "99000000", "INV-3"))
    assert too_much["code"] == "51" and too_much["balance"] in (15, None)

    bal = resp(agent.ask("BAL"))
    assert (bal["code"], bal["balance"]) == ("00", 15)

    # a return of 100,000 of the 250,000 purchase claws back 10 of its 25 points
    refund = resp(agent.ask("REFUND", "100000", "INV-4", str(earn["rrn"])))
    assert (refund["code"], refund["balance"]) == ("00", 5), refund
    unknown = resp(agent.ask("REFUND", "1000", "INV-5", "999999999999"))
    assert unknown["code"] != "00", unknown
    # the card really was read over PC/SC: SELECT + READ RECORD for each request
    assert card.apdus.count(bytes.fromhex("00B2010C00")) == 6
    assert agent.outbox() == {}
    log = agent.log.read_text()
    assert "bad LRC" in log and "unknown request 'PAY'" in log
    assert PAN not in log  # cards are masked in every log line


def test_card_faults_reach_the_register(switch: Switch, agent_factory: AgentOfSwitch,
                                        vcard: InsertCard) -> None:
    """Slot 1 only: a mute card leaves vpcd's slot busy for seconds after it is pulled."""
    switch.start()
    agent = agent_factory(switch, reader=VPCD_READERS[1])
    agent.start()
    agent.wait_signed_on()
    vc = vcard(slot=1, mode="no_app")
    r = resp(agent.ask("EARN", "1000", "I"))
    assert r["code"] == "XR" and "not an LPS" in str(r["message"])
    vc.remove()
    wait_presence(VPCD_READERS[1], False)
    vcard(slot=1, mode="pull")  # leaves the reader when READ RECORD arrives
    r = resp(agent.ask("EARN", "1000", "I"))
    assert r["code"] == "XR" and "removed during reading" in str(r["message"]), r
    wait_presence(VPCD_READERS[1], False)
    agent.close()
    # The card read timeout fires here on purpose: an agent that gives a card 1 s, where the
    # one above gives a slow machine all the time a card that answers needs.
    impatient = agent_factory(switch, reader=VPCD_READERS[1], card_read_timeout=1)
    impatient.start()
    impatient.wait_signed_on()
    vcard(slot=1, mode="mute")
    r = resp(impatient.ask("EARN", "1000", "I"))
    assert r["code"] == "XR" and "does not answer" in str(r["message"])


def test_no_card_in_time_is_xc(switch: Switch, agent_factory: AgentOfSwitch,
                               vpcd_slots: None) -> None:
    switch.start()
    agent = agent_factory(switch, card_wait=0.5)  # no card comes: this timeout must fire
    agent.start()
    agent.wait_signed_on()
    assert resp(agent.ask("EARN", "1000", "I"))["code"] == "XC"


def test_offline_earns_queued_then_drained_in_order(
        switch: Switch, agent_factory: AgentOfSwitch, vcard: InsertCard,
        mosquitto: Mosquitto) -> None:
    vcard(pan=PAN)
    agent = agent_factory(switch, mqtt=mosquitto.url)
    base = "lps/v1/terminals/T0000001"

    async def run() -> None:
        async with Watch("127.0.0.1", mosquitto.port, f"{base}/#") as w:
            await asyncio.to_thread(agent.start_ready)
            st = await w.wait(lambda t, d: t.endswith("/status") and d.get("state") == "online")
            assert st["link"] == "down"
            for amount, inv in (("100000", "Q1"), ("200000", "Q2"), ("300000", "Q3")):
                r = resp(await asyncio.to_thread(agent.ask, "EARN", amount, inv))
                assert r["code"] == "XQ", r
            burn = resp(await asyncio.to_thread(agent.ask, "BURN", "1000", "Q4"))
            assert burn["code"] == "XO" and "offline" in str(burn["message"])
            assert agent.outbox() == {"advice": 3}
            await w.wait(lambda t, d: t.endswith("/status") and d.get("saf_depth") == 3)

            switch.start()
            await asyncio.to_thread(agent.wait_drained)
            advices = []
            for inv in ("Q1", "Q2", "Q3"):
                def advice(t: str, d: Any, inv: str = inv) -> bool:
                    return (t.endswith("/events") and d.get("type") == "advice"
                            and d.get("invoice") == inv)

                advices.append(await w.wait(advice))
            # in order: the balance grows 10, 30, 60
            assert [(a["code"], a["earned"], a["balance"]) for a in advices] == [
                ("00", 10, 10), ("00", 20, 30), ("00", 30, 60)]
            assert all(a["card"] == "628000******7895" for a in advices)
            await w.wait(lambda t, d: t.endswith("/status") and d.get("link") == "signed-on"
                         and d.get("saf_depth") == 0)
            bal = resp(await asyncio.to_thread(agent.ask, "BAL"))
            assert (bal["code"], bal["balance"]) == ("00", 60)
            await w.wait(lambda t, d: t.endswith("/events") and d.get("request") == "BAL")
            assert check_schemas(w.seen) >= 10
            assert PAN not in str(w.seen)

    asyncio.run(run())


def test_killed_with_queued_work_nothing_lost_or_doubled(
        switch: Switch, agent_factory: AgentOfSwitch, vcard: InsertCard) -> None:
    vcard(pan=PAN)
    agent = agent_factory(switch)
    agent.start_ready()
    for amount in ("110000", "220000"):
        assert resp(agent.ask("EARN", amount, "K"))["code"] == "XQ"
    agent.kill9()
    assert agent.outbox() == {"advice": 2}

    switch.start()
    agent.start()
    agent.wait_signed_on()
    agent.wait_drained()
    assert resp(agent.ask("BAL"))["balance"] == 33

    # The crash window after the switch answered but before the agent forgot the advice:
    # put the (already answered) first advice back, as a kill -9 at that instant would leave it.
    agent.kill9()
    db = sqlite3.connect(agent.dir / "data" / "agent.db")
    stan, de7 = "000777", "1123120000"
    import json
    fields = {"2": PAN, "3": "000000", "4": "000000050000", "7": de7, "11": stan,
              "22": "071", "25": "00", "41": "T0000001", "42": "STORE0000000001", "49": "364"}
    db.execute("INSERT INTO outbox(kind, mti, fields, attempts, context) VALUES"
               "('advice', '0220', ?, 0, '{}')", (json.dumps(fields),))
    db.commit()
    agent.start()
    agent.wait_signed_on()
    agent.wait_drained()
    assert resp(agent.ask("BAL"))["balance"] == 38  # +5 once
    agent.kill9()
    db.execute("INSERT INTO outbox(kind, mti, fields, attempts, context) VALUES"
               "('advice', '0220', ?, 1, '{}')", (json.dumps(fields),))  # resent as 0221
    db.commit()
    db.close()
    agent.start()
    agent.wait_signed_on()
    agent.wait_drained()
    assert resp(agent.ask("BAL"))["balance"] == 38  # not doubled


def test_hung_switch_burn_reversed(switch: Switch, agent_factory: AgentOfSwitch, vcard: InsertCard,
                                   mosquitto: Mosquitto) -> None:
    switch.start()
    vcard(pan=PAN)
    agent = agent_factory(switch, mqtt=mosquitto.url)
    agent.start()
    agent.wait_signed_on()
    assert resp(agent.ask("EARN", "500000", "R1"))["balance"] == 50

    # Only while the switch hangs is the request timeout short: it must fire there, and
    # nowhere else on a slow machine.
    agent.configure_live(request_timeout_seconds=2)
    switch.freeze()
    try:
        burn = resp(agent.ask("BURN", "20000", "R2"))  # times out after 2 s
        assert burn["code"] == "XO"
        # the link left the silent switch: the earn is not sent into it but queued at once
        earn = resp(agent.ask("EARN", "100000", "R3"))
        assert earn["code"] == "XQ"
        assert agent.outbox() == {"reversal": 1, "advice": 1}
    finally:
        switch.thaw()
    agent.configure_live(request_timeout_seconds=EVENT)
    agent.wait_drained()
    # the burn was undone, the earn arrived once as an advice
    assert resp(agent.ask("BAL"))["balance"] == 60


def test_echo_keepalive_finds_a_hung_switch_and_reconnects(
        switch: Switch, agent_factory: AgentOfSwitch, vpcd_slots: None,
        mosquitto: Mosquitto) -> None:
    switch.start()
    agent = agent_factory(switch, mqtt=mosquitto.url, extra="echo_interval_seconds = 0.3\n")
    agent.start()
    agent.wait_signed_on()
    agent.wait_log("echo answered 00", agent.started_at)
    # Only while the switch hangs is the request timeout short (as in the burn test above).
    agent.configure_live(request_timeout_seconds=2)
    switch.freeze()
    try:
        mark = agent.mark()
        agent.wait_log("echo failed", mark)
    finally:
        switch.thaw()
    agent.configure_live(request_timeout_seconds=EVENT)
    agent.wait_log("signed on to", mark)
    agent.wait_log("echo answered 00", agent.mark())


def test_bcd_profile_with_tpdu(switch: Switch, vcard: InsertCard, tmp_path: Path) -> None:
    switch.start()
    vcard(pan=PAN)
    agent = AgentProc(tmp_path / "bcd", f"127.0.0.1:{switch.bcd_port}", reader=READER,
                      profile="bcd")
    try:
        agent.start()
        agent.wait_signed_on()
        earn = resp(agent.ask("EARN", "70000", "B1"))
        assert (earn["code"], earn["earned"], earn["balance"]) == ("00", 7, 7), earn
    finally:
        agent.close()


def test_killed_while_a_burn_awaits_the_switch_reversed_after_restart(
        switch: Switch, agent_factory: AgentOfSwitch, vcard: InsertCard) -> None:
    switch.start()
    vcard(pan=PAN)
    agent = agent_factory(switch)  # its request timeout (EVENT) outlasts the wait for the kill
    agent.start()
    agent.wait_signed_on()
    assert resp(agent.ask("EARN", "400000", "C1"))["balance"] == 40

    switch.freeze()
    try:
        assert agent.register.send(fields("BURN", "15000", "C2")) == b"\x06"
        wait_until(lambda: agent.outbox() == {"inflight": 1}, EVENT, "the burn in flight")
        agent.kill9()  # the burn's fate is unknown to the agent
    finally:
        switch.thaw()  # the switch now approves the burn it had received
    agent.start()
    agent.wait_signed_on()
    agent.wait_drained()
    assert "was in flight at the last stop" in agent.log.read_text()
    # undid an approved burn; logged just after the reversal leaves the outbox, so the line
    # itself is the event to wait for
    answered = re.compile(r"0400 STAN \d{6} answered 00")
    wait_until(lambda: answered.search(agent.log.read_text()) is not None, EVENT,
               "the reversal answered 00 in the agent's log")
    assert resp(agent.ask("BAL"))["balance"] == 40  # the burn was reversed


def test_key_exchange_and_mac_with_require_mac(vcard: InsertCard, tmp_path: Path) -> None:
    switch = Switch(tmp_path / "macswitch", require_mac=True)
    switch.start()
    agents: list[AgentProc] = []
    try:
        comps, kcv = new_terminal_key(switch, "T0000001")
        vcard(pan=PAN)
        keyed = AgentProc(tmp_path / "keyed", switch.address, reader=READER,
                          extra=f"tmk_components = {comps!r}\ntmk_kcv = \"{kcv}\"\n".replace(
                              "'", '"'))
        agents.append(keyed)
        keyed.start()
        keyed.wait_signed_on()
        keyed.wait_log("session MAC key installed", keyed.started_at)
        earn = resp(keyed.ask("EARN", "120000", "M1"))
        assert (earn["code"], earn["earned"], earn["balance"]) == ("00", 12, 12), earn
        keyed.close()

        # the same terminal without its key: the switch insists on a MAC
        bare = AgentProc(tmp_path / "bare", switch.address, reader=READER)
        agents.append(bare)
        bare.start()
        bare.wait_signed_on()
        refused = resp(bare.ask("EARN", "120000", "M2"))
        assert refused["code"] == "63", refused  # security violation: no MAC
        bare.close()

        # a wrong TMK: the key exchange answer fails its check value, nothing is sent unMACed
        wrong = AgentProc(tmp_path / "wrong", switch.address, reader=READER,
                          extra=f'tmk = "{"11" * 16}"\n')
        agents.append(wrong)
        wrong.start()
        wrong.wait_log("key exchange answer unusable", wrong.started_at)
    finally:
        for a in agents:
            a.close()
        switch.stop()


def test_tls_to_the_switch(vcard: InsertCard, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "pki")
    switch = Switch(tmp_path / "tlsswitch", tls=(cert, key))
    switch.start()
    agents: list[AgentProc] = []
    try:
        vcard(pan=PAN)
        secure = AgentProc(tmp_path / "tls", switch.address, reader=READER,
                           extra=f'tls_ca = "{cert}"\n')
        agents.append(secure)
        secure.start()
        secure.wait_signed_on()
        earn = resp(secure.ask("EARN", "30000", "T1"))
        assert (earn["code"], earn["earned"]) == ("00", 3), earn
        secure.close()

        other_ca, _ = self_signed(tmp_path / "other")  # a certificate we do not trust
        wary = AgentProc(tmp_path / "wary", switch.address, reader=READER,
                         extra=f'tls_ca = "{other_ca}"\n')
        agents.append(wary)
        wary.start()
        wary.wait_log("CERTIFICATE_VERIFY_FAILED", wary.started_at)
        assert "signed on to" not in wary.log.read_text()
    finally:
        for a in agents:
            a.close()
        switch.stop()
