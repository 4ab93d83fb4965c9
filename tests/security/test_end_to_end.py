"""Key exchange, MACed traffic and PINs end to end: the real server over real sockets, the
real CLI, the in-process HSM; the test plays the terminal with its own clear keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54
from switch.server import Switch
from tests.engines import query
from tests.security.support import Terminal, lps, new_terminal, running, write_config
from tests.switch.support import (
    T1,
    T2,
    batch_close,
    burn,
    card,
    earn,
    inquiry,
    request,
    reversal,
)

PAN = card(77)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def rows(journal: dict[str, Any], sql: str) -> list[tuple[object, ...]]:
    """The rows of `sql` on the test's journal, either engine."""
    return query(journal.get("journal_url") or journal["database"], sql)


async def ready_terminal(sw: Switch, tmk: bytes, profile: str, tid: str = T1) -> Terminal:
    term = await Terminal(tid, profile, tmk).connect(sw)
    await term.key_exchange()
    r = await term.send(request("0800", tid, 900001, extra={70: "001"}))
    assert r.fields[39] == "00"
    return term


async def points(term: Terminal, stan: int) -> int:
    r = await term.send(inquiry(term.tid, stan, PAN))
    assert r.fields[39] == "00", r.fields
    return parse_de54(str(r.fields[54]))[0].amount


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_key_exchange_then_maced_traffic(tmp_path: Path, profile: str,
                                         journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, profile)
            r = await term.send(earn(T1, 1, PAN, 200_000))
            assert r.mti == "0210" and r.fields[39] == "00" and 64 in r.fields
            r = await term.send(burn(T1, 2, PAN, 5_000))
            assert r.fields[39] == "00"
            # A reversal carries DE90, so its MAC is DE128 behind the secondary bitmap.
            rev = reversal(burn(T1, 2, PAN, 5_000), 3)
            r = await term.send(rev)
            assert r.mti == "0410" and r.fields[39] == "00"
            assert await points(term, 4) == 20
            # The batch close has DE74-89, hence a secondary bitmap and the MAC in DE128.
            totals = {74: 1, 86: 200_000, 76: 1, 88: 5_000, 77: 1, 89: 5_000}
            r = await term.send(batch_close(T1, 5, "000001", totals))
            assert r.mti == "0510" and r.fields[39] == "00"
            await term.close()
        # The new session keys were stored under the LMK only.
        (mac, pin, mac_kcv), = rows(journal_settings,
                                     f"SELECT mac, pin, mac_kcv FROM terminal_keys "
                                     f"WHERE terminal_id = '{T1}'")
        assert str(mac).startswith("U") and str(pin).startswith("U") and len(str(mac_kcv)) == 6
    run(body)


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_tampered_byte_is_63_with_no_effect(tmp_path: Path, profile: str,
                                            journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, profile)
            assert (await term.send(earn(T1, 1, PAN, 100_000))).fields[39] == "00"
            good = term.encode(earn(T1, 2, PAN, 300_000))
            # Tamper with the amount's last digit (a byte inside the MACed span).
            span_at = good.index(b"300000" if profile == "ascii" else b"\x30\x00\x00")
            bad = bytearray(good)
            bad[span_at] ^= 0x01
            r = term.check_response(await term.exchange(bytes(bad)))
            assert r.fields[39] == "63"
            # A flipped MAC bit: the same.
            flipped = bytearray(good)
            flipped[-1] ^= 0x80
            assert term.check_response(await term.exchange(bytes(flipped))).fields[39] == "63"
            # No MAC at all, from a terminal that has a MAC key: the same.
            unmaced = term.encode(earn(T1, 2, PAN, 300_000), mac=False)
            assert term.check_response(await term.exchange(unmaced)).fields[39] == "63"
            assert await points(term, 3) == 10
            # The refusals were not remembered: the genuine request with the same STAN and
            # DE7 is decided normally afterwards (not a 94, not a replayed 63).
            first = await term.exchange(good)
            assert term.check_response(first).fields[39] == "00"
            assert await points(term, 4) == 40
            # Afterwards a tampered copy is still 63 (never the genuine one's answer), and the
            # genuine one replayed is answered with the same bytes.
            assert term.check_response(await term.exchange(bytes(bad))).fields[39] == "63"
            assert await term.exchange(good) == first
            assert await points(term, 5) == 40
            await term.close()
        kinds = rows(journal_settings,
                     "SELECT kind, response_code FROM journal WHERE stan = '000002' ORDER BY id")
        assert kinds == [("reject", "63")] * 3 + [("earn", "00"), ("reject", "63")]
    run(body)


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_replayed_maced_request_same_bytes_no_effect(tmp_path: Path, profile: str,
                                                     journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, profile)
            payload = term.encode(earn(T1, 1, PAN, 150_000))
            first = await term.exchange(payload)
            second = await term.exchange(payload)
            assert second[5:] == first[5:] if profile == "bcd" else second == first
            term.check_response(second)
            assert await points(term, 2) == 15
        # After a restart the replay is answered from the journal: still the same bytes.
        async with running(cfg) as sw:
            term2 = await Terminal(T1, profile, tmk, term.mac_key, term.pin_key).connect(sw)
            third = await term2.exchange(payload)
            assert third[5:] == first[5:] if profile == "bcd" else third == first
            assert await points(term2, 3) == 15
            await term2.close()
    run(body)


def test_pin_three_wrong_is_75_until_reset_and_durable(tmp_path: Path,
                                                       journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, "ascii")
            assert (await term.send(earn(T1, 1, PAN, 500_000))).fields[39] == "00"
            code, out, err = await asyncio.to_thread(
                lps, "pin", "set", PAN, "--config", str(cfg), stdin="4321\n")
            assert code == 0, err
            assert PAN not in out and "4321" not in out

            def redeem(stan: int, pin: str | None) -> Message:
                extra = {52: term.pin_block(pin, PAN)} if pin else None
                return burn(T1, stan, PAN, 2_000, extra=extra)

            assert (await term.send(redeem(2, None))).fields[39] == "55"   # no PIN: not counted
            assert (await term.send(redeem(3, "1111"))).fields[39] == "55"
            r = await term.send(redeem(3, "1111"))                          # a retransmission
            assert r.fields[39] == "55"                                      # counts once
            assert (await term.send(redeem(4, "4321"))).fields[39] == "00"  # resets the count
            assert (await term.send(redeem(5, "0000"))).fields[39] == "55"
            assert (await term.send(redeem(6, "9999"))).fields[39] == "55"
            await term.close()
        # Two wrong in a row survive a restart: the third is 75.
        async with running(cfg) as sw:
            term = await Terminal(T1, "ascii", tmk, term.mac_key, term.pin_key).connect(sw)
            assert (await term.send(redeem(7, "1212"))).fields[39] == "75"
            assert (await term.send(redeem(8, "4321"))).fields[39] == "75"  # blocked
            assert await points(term, 9) == 48
            code, _, err = await asyncio.to_thread(
                lps, "pin", "reset", PAN, "--config", str(cfg))
            assert code == 0, err
            assert (await term.send(redeem(10, "4321"))).fields[39] == "00"
            assert await points(term, 11) == 46
            await term.close()
        (pin, tries), = rows(journal_settings, f"SELECT pin, tries FROM card_pins "
                                                  f"WHERE pan = '{PAN}'")
        assert tries == 0 and len(str(pin)) == 16
    run(body)


def test_dukpt_pin_with_ksn(tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    from tests.security.support import dukpt_pin_block

    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T2)
    bdk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    code, _, err = lps("keys", "load-bdk", T2, "--config", str(cfg),
                       stdin="0123456789ABCDEFFEDCBA9876543210\n" + "00" * 16 + "\n")
    assert code == 0, err
    ksn = bytes.fromhex("FFFF9876543210E00001")

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, "ascii", T2)
            assert (await term.send(earn(T2, 1, PAN, 500_000))).fields[39] == "00"
            await asyncio.to_thread(lps, "pin", "set", PAN, "--config", str(cfg),
                                    stdin="2468\n")
            good = burn(T2, 2, PAN, 10_000, tags={"KS": ksn.hex().upper()},
                        extra={52: dukpt_pin_block(bdk, ksn, "2468", PAN)})
            assert (await term.send(good)).fields[39] == "00"
            ksn2 = bytes.fromhex("FFFF9876543210E00002")
            wrong = burn(T2, 3, PAN, 10_000, tags={"KS": ksn2.hex().upper()},
                         extra={52: dukpt_pin_block(bdk, ksn2, "1357", PAN)})
            assert (await term.send(wrong)).fields[39] == "55"
            # A block made for another KSN does not decrypt to this PIN: a wrong try too.
            replayed = burn(T2, 4, PAN, 10_000, tags={"KS": ksn2.hex().upper()},
                            extra={52: dukpt_pin_block(bdk, ksn, "2468", PAN)})
            assert (await term.send(replayed)).fields[39] == "55"
            third = burn(T2, 5, PAN, 10_000, tags={"KS": ksn2.hex().upper()},
                         extra={52: dukpt_pin_block(bdk, ksn2, "0000", PAN)})
            assert (await term.send(third)).fields[39] == "75"
            await term.close()
    run(body)


def test_require_mac_refuses_unmaced_financial_messages(tmp_path: Path,
                                                        journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, require_mac=True, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            plain = await Terminal(T2, "bcd", b"").connect(sw)
            assert (await plain.send(request("0800", T2, 900001, extra={70: "001"}))
                    ).fields[39] == "00"   # network management needs no MAC
            assert (await plain.send(earn(T2, 1, PAN, 100_000))).fields[39] == "63"
            r = await plain.send(reversal(earn(T2, 1, PAN, 100_000), 2))
            assert r.fields[39] == "63"
            term = await ready_terminal(sw, tmk, "bcd")
            assert (await term.send(earn(T1, 1, PAN, 100_000))).fields[39] == "00"
            assert await points(term, 2) == 10
            await plain.close()
            await term.close()
        kinds = rows(journal_settings,
                     f"SELECT kind, response_code FROM journal WHERE terminal_id = '{T2}' "
                     "AND mti != '0800' ORDER BY id")
        assert kinds == [("reject", "63"), ("reject", "63")]
        assert rows(journal_settings, "SELECT count(*) FROM lots") == [(1,)]
    run(body)


def test_key_exchange_without_tmk_is_refused(tmp_path: Path,
                                             journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await Terminal(T1, "ascii", b"").connect(sw)
            msg = Message("0800", {7: "1123100000", 11: "000001", 41: T1, 70: "101"})
            r = await term.send(msg)
            assert r.fields[39] == "58" and 48 not in r.fields
            await term.close()
    run(body)


def test_format_error_answer_to_a_keyed_terminal_is_maced(tmp_path: Path,
                                                          journal_settings: dict[str, Any]) -> None:
    cfg = write_config(tmp_path, journal=journal_settings)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, "ascii")
            good = term.encode(earn(T1, 1, PAN, 100_000))
            broken = good.replace(b"000000100000", b"00000010000X", 1)
            assert broken != good
            r = term.check_response(await term.exchange(broken))  # checks the MAC
            assert r.mti == "0210" and r.fields[39] == "30" and r.fields[11] == "000001"
            await term.close()
    run(body)


def test_new_session_key_takes_effect_at_once(tmp_path: Path) -> None:
    """The HSM keeps the terminal's MAC key ready (docs/hsm.md §2); a key exchange replaces it
    for the very next request, and the old key is no longer kept."""
    cfg = write_config(tmp_path)
    tmk = new_terminal(cfg, T1)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await ready_terminal(sw, tmk, "ascii")
            assert (await term.send(earn(T1, 1, PAN, 100_000))).fields[39] == "00"
            old_key, old_ref = term.mac_key, sw.state.terminals[T1].mac_key_ref
            assert old_ref is not None
            engine = sw.security.hsm._hsm._engine  # type: ignore[attr-defined]
            assert engine.holds_working_key(old_ref)
            await term.key_exchange(800002)  # its 0810 verified under the new key
            new_ref = sw.state.terminals[T1].mac_key_ref
            assert new_ref not in (None, old_ref) and not engine.holds_working_key(old_ref)
            # A request MACed under the replaced key: 63, no effect, answered under the new.
            stale = Terminal(T1, "ascii", tmk, old_key).encode(earn(T1, 2, PAN, 300_000))
            assert term.check_response(await term.exchange(stale)).fields[39] == "63"
            assert await points(term, 3) == 10
            assert (await term.send(earn(T1, 4, PAN, 300_000))).fields[39] == "00"
            assert await points(term, 5) == 40
            await term.close()
    run(body)
