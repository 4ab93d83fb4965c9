"""The same defects over one unauthenticated TCP connection to the real switch: the answer,
the connection afterwards, the log, and a restart that gives back the state it had; on each
journal engine (tests/engines.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, frame, load_profile
from switch.config import Config
from switch.core import RuleBook, Snapshot, snapshot
from switch.core.limits import TWELVE_DIGITS
from switch.core.programs.rules import program_rules
from switch.journal import open_journal
from switch.journal.sql.verify import check_invariants
from switch.server import Switch
from tests.engines import raw
from tests.switch.support import T1, T3, burn, card, dismantle, earn, request
from tests.switch.test_money_safety import OversizeReplies
from tests.switch.test_server import JOURNAL, config_for, signed_on
from tests.waits import EVENT

A, NEW = card(71), card(72)
ASCII = load_profile("ascii")


@pytest.fixture(autouse=True)
def _journal(journal_settings: dict[str, Any]) -> Iterator[None]:
    """`config_for` (tests/switch/test_server.py) names the test's journal on its engine."""
    JOURNAL.update(journal_settings)
    yield
    JOURNAL.clear()


def serve(tmp: Path, body: Any, rules: RuleBook | None = None) -> Snapshot:
    """Run the switch around `body(sw)`; its state as it stopped, checked against a restart."""
    cfg = config_for(tmp)
    kept: list[Snapshot] = []

    async def main() -> None:
        sw = Switch(cfg, rules)
        await sw.start()
        try:
            await body(sw)
            await sw.writer.drain()
            kept.append(snapshot(sw.state).durable())
        finally:
            await sw.stop()
    asyncio.run(main())
    assert_restart_equal(cfg, kept[0], rules)
    return kept[0]


def assert_restart_equal(cfg: Config, before: Snapshot, rules: RuleBook | None) -> None:
    store = open_journal(cfg.switch.journal)
    try:
        assert check_invariants(raw(store)) == []
        state = store.load(cfg, rules or program_rules(cfg), dt.datetime.now(dt.UTC))
        after = snapshot(state).durable()
        assert after.balances() == before.balances()
        assert after == before
    finally:
        store.close()


async def read_one(reader: asyncio.StreamReader) -> Message:
    size = struct.unpack(">H", await asyncio.wait_for(reader.readexactly(2), EVENT))[0]
    return ASCII.decode(await reader.readexactly(size))


def test_an_overflowing_topup_is_61_and_the_connection_stays(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        topup = request("0200", T3, 1, pan=A, pc="210060", amount=TWELVE_DIGITS)
        assert (await c.send(topup)).fields[39] == "61"
        spend = request("0200", T3, 2, pan=A, pc="006000", amount=TWELVE_DIGITS)
        assert (await c.send(spend)).fields[39] == "51"
        assert (await c.send(earn(T1, 3, A, 100_000))).fields[39] == "00"
        await c.close()
    after = serve(tmp_path, body)
    assert after.balances()[(A, "points")] == 10


def test_rp_in_other_digits_is_30_and_the_connection_stays(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        r = await c.send(burn(T1, 1, NEW, 1_000, tags={"RP": "002\u00b2"}))
        assert r.fields[39] == "30"
        assert NEW not in sw.state.cards
        assert (await c.send(earn(T1, 2, A, 100_000))).fields[39] == "00"
        await c.close()
    serve(tmp_path, body)


@pytest.mark.parametrize("missing", [11, 41])
def test_a_request_without_de11_or_de41_closes_its_connection(tmp_path: Path,
                                                              missing: int) -> None:
    async def body(sw: Switch) -> None:
        good = await signed_on(sw, "ascii")
        msg = earn(T1, 1, A, 100_000)
        del msg.fields[missing]
        addr = sw.addresses["ascii"]
        reader, writer = await asyncio.open_connection(addr.host, addr.port)
        writer.write(frame(ASCII.encode(msg)))
        assert await asyncio.wait_for(reader.read(), EVENT) == b""  # no answer: closed
        writer.close()
        assert (await good.send(earn(T1, 2, A, 100_000))).fields[39] == "00"
        await good.close()
    serve(tmp_path, body)


def test_frames_with_a_response_mti_are_never_answered(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lps.switch")
    stray = []
    for mti in ("0210", "0810", "0410", "0290"):
        payload = ASCII.encode(dataclasses.replace(earn(T1, 1, A, 1_000), mti=mti))
        assert payload.endswith(b"006000001")
        stray += [payload, payload[:-9] + b"0X6000001"]  # decodable, and not (DE62's length)

    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        addr = sw.addresses["ascii"]
        reader, writer = await asyncio.open_connection(addr.host, addr.port)
        for payload in stray:
            writer.write(frame(payload))
        writer.write(frame(ASCII.encode(earn(T1, 50, A, 100_000))))
        first = await read_one(reader)  # answers leave in decision order: none came before
        assert (first.mti, first.fields[11], first.fields[39]) == ("0210", "000050", "00")
        writer.close()
        await c.close()
    serve(tmp_path, body)
    ignored = [r.getMessage() for r in caplog.records if "event=ignored" in r.getMessage()]
    assert len(ignored) == len(stray) and all("is not a request" in m for m in ignored)
    assert not [r for r in caplog.records if r.exc_info] and "Traceback" not in caplog.text


def test_a_reply_that_cannot_be_encoded_is_96_and_changes_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        assert (await c.send(burn(T1, 1, A, 1_000))).fields[39] == "51"
        await sw.writer.drain()
        before = snapshot(sw.state), sw.state.next_journal_id
        r = await c.send(earn(T1, 2, A, 100_000))
        assert (r.mti, r.fields[39]) == ("0210", "96")
        await sw.writer.drain()
        assert (snapshot(sw.state), sw.state.next_journal_id) == before
        assert (await c.send(burn(T1, 3, A, 1_000))).fields[39] == "51"
        await c.close()
    after = serve(tmp_path, body, OversizeReplies())
    assert after.balances() == {}
    assert "event=decide_failed" in caplog.text and "Traceback" not in caplog.text
    conn = open_journal(config_for(tmp_path).switch.journal)
    try:
        stans = [r[0] for r in raw(conn).execute("SELECT stan FROM journal WHERE pan = ? "
                                                 "ORDER BY id", (A,))]
    finally:
        conn.close()
    assert stans == ["000001", "000003"]  # the 96 used no journal row


def test_an_apply_that_refuses_stops_the_switch_before_the_journal_sees_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision `apply` refuses is a bug: fail-stop, no answer, and a restart recovers the
    state without it (a real journal; the refusal is injected)."""
    import switch.connection
    from switch.core import apply as real

    def refusing(state: Any, decision: Any) -> None:
        if decision.entries and decision.entries[0].stan == "000002":
            raise AssertionError("lot 1 taken below zero by a redeem (injected)")
        real(state, decision)

    monkeypatch.setattr(switch.connection, "apply", refusing)
    cfg = config_for(tmp_path)

    async def main() -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            c = await signed_on(sw, "ascii")
            assert (await c.send(earn(T1, 1, A, 100_000))).fields[39] == "00"
            fut = c.send_nowait(burn(T1, 2, A, 1_000))
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(fut, EVENT)  # no answer
            await asyncio.wait_for(sw.stopped.wait(), EVENT)
            assert sw.failure is not None and "invariant broken" in sw.failure
            await c.close()
        finally:
            await dismantle(sw)
    asyncio.run(main())
    store = open_journal(cfg.switch.journal)
    try:
        state = store.load(cfg, program_rules(cfg), dt.datetime.now(dt.UTC))
        assert state.cards[A].points == 10
        assert raw(store).execute("SELECT COUNT(*) FROM journal WHERE stan = '000002'"
                                  ).fetchone()[0] == 0
        assert check_invariants(raw(store)) == []
    finally:
        store.close()
