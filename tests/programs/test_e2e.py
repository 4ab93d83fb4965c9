"""Programs end to end: the real `lps serve` process (stamps, enrollment profile, birthday,
receipt, restart) and the in-process server over both profiles (tier upgrade, campaign, returns).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
from pathlib import Path

import pytest

from iso8583.loyalty import parse_tlv
from lps.cli import main as lps_main
from switch.config import Campaign
from switch.core.programs.rules import program_rules
from switch.server import Switch
from tests.programs.support import C2
from tests.switch.support import T1, T2, PatientClient, card, earn, request
from tests.switch.test_crash import start, write_config
from tests.switch.test_server import TPDU, config_for
from tests.waits import EVENT


def tlv(msg: object) -> dict[str, str]:
    fields = msg.fields  # type: ignore[attr-defined]
    return parse_tlv(fields[48]) if 48 in fields else {}


def test_lps_serve_runs_the_programs_stamps_profile_and_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, port = write_config(tmp_path)
    pan = card(777)
    today = dt.datetime.now(dt.UTC).date()
    birth = today.replace(year=1990) if not (today.month == 2 and today.day == 29) \
        else dt.date(1990, 2, 28)
    assert lps_main(["cards", "enroll", pan, "--config", str(config), "--name", "Neda Ahmadi",
                     "--phone", "+989121234567", "--birth-date", birth.isoformat()]) == 0

    async def visits(first_stan: int, n: int) -> list[dict[str, str]]:
        c = await PatientClient("ascii", "127.0.0.1", port).connect()
        r = await c.send(request("0800", T1, first_stan, extra={70: "001"}))
        assert r.fields[39] == "00"
        out = []
        for i in range(n):
            r = await c.send(earn(T1, first_stan + 1 + i, pan, 100_000,
                                  now=dt.datetime.now(dt.UTC)))
            assert r.fields[39] == "00"
            out.append(tlv(r))
        await c.close()
        return out

    async def redeem_stamp(stan: int) -> tuple[str, dict[str, str]]:
        c = await PatientClient("ascii", "127.0.0.1", port).connect()
        r = await c.send(request("0200", T1, stan, pan=pan, pc="930000",
                                 now=dt.datetime.now(dt.UTC)))
        await c.close()
        return str(r.fields[39]), tlv(r)

    proc = start(config, port)
    try:
        first = asyncio.run(visits(100, 6))
        # The birthday bonus (50) comes with the first earn in the window, once.
        assert [t["EP"] for t in first] == ["60", "10", "10", "10", "10", "10"]
        assert [t["SC"] for t in first] == ["1", "2", "3", "4", "5", "6"]
        assert "امتیاز" in first[0]["MS"] and len(first[0]["MS"].encode()) <= 120
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    proc = start(config, port)   # stamps, birthday and balance come back from the database
    try:
        more = asyncio.run(visits(200, 4))
        assert [t["EP"] for t in more] == ["10"] * 4
        assert (more[-1]["SC"], more[-1]["SR"]) == ("0", "1")
        assert asyncio.run(redeem_stamp(300))[0] == "00"
        assert asyncio.run(redeem_stamp(301))[0] == "51"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    capsys.readouterr()
    assert lps_main(["club", pan, "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "Neda Ahmadi" in shown and "tier       BLUE (12-month spend 1000000)" in shown
    assert "STORE0000000001: 0   rewards 0" in shown


def test_profile_enrolled_while_lps_serve_runs_takes_effect_at_once(tmp_path: Path) -> None:
    config, port = write_config(tmp_path)
    pan = card(779)
    today = dt.datetime.now(dt.UTC).date()
    birth = today.replace(year=1991) if not (today.month == 2 and today.day == 29) \
        else dt.date(1991, 2, 28)

    async def first_earn() -> dict[str, str]:
        c = await PatientClient("ascii", "127.0.0.1", port).connect()
        r = await c.send(request("0800", T1, 1, extra={70: "001"}))
        assert r.fields[39] == "00"
        r = await c.send(earn(T1, 2, pan, 100_000, now=dt.datetime.now(dt.UTC)))
        await c.close()
        assert r.fields[39] == "00"
        return tlv(r)

    proc = start(config, port)
    try:
        # Enrolled through the running switch's admin socket; the profile is loaded at once.
        assert lps_main(["cards", "enroll", pan, "--config", str(config), "--name", "Reza",
                         "--birth-date", birth.isoformat()]) == 0
        assert asyncio.run(first_earn())["EP"] == "60"  # 10 points + the birthday bonus 50
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0


def test_in_process_server_tier_campaign_and_return_both_profiles(tmp_path: Path) -> None:
    base = config_for(tmp_path)
    today = dt.datetime.now(base.switch.zone).date()
    # The server judges campaigns by its own clock: a 3x campaign around today at Book City.
    week = Campaign("this week", today - dt.timedelta(days=1), today + dt.timedelta(days=1),
                    multiplier=3.0)
    stores = dict(base.stores)
    stores[C2] = dataclasses.replace(stores[C2], campaigns=(week,))
    cfg = dataclasses.replace(base, stores=stores)
    yalda = dt.datetime.now(dt.UTC)
    pan = card(778)

    async def main() -> None:
        sw = Switch(cfg, program_rules(cfg))
        await sw.start()
        try:
            a = await PatientClient("ascii", sw.addresses["ascii"].host,
                                    sw.addresses["ascii"].port).connect()
            b = await PatientClient("bcd", sw.addresses["bcd"].host,
                                    sw.addresses["bcd"].port).connect()
            for c, tid, stan, tpdu in ((a, T1, 1, None), (b, T2, 2, TPDU)):
                r = await c.send(request("0800", tid, stan, extra={70: "001"}, tpdu=tpdu))
                assert r.fields[39] == "00"
            r = await a.send(earn(T1, 10, pan, 60_000_000))
            t = tlv(r)
            assert (t["TR"], t["EP"]) == ("SILVER", "7500")      # 6000 x 1.25, crossing earn
            # Book City: 2 per 10,000 x SILVER 1.25 x campaign 3.0
            r = await b.send(earn(T2, 11, pan, 1_000_000, now=yalda, tpdu=TPDU))
            assert tlv(r)["EP"] == str(200 * 1250 * 3000 // 1_000_000)
            rrn = str(r.fields[37])
            r = await b.send(request("0200", T2, 12, pan=pan, pc="200000", amount=250_000,
                                     now=yalda, tags={"OR": rrn}, tpdu=TPDU))
            assert r.fields[39] == "00" and tlv(r)["RD"] == "187"   # floor(750 x 1/4)
        finally:
            await sw.stop()
    asyncio.run(main())
