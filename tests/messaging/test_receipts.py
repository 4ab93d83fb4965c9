"""The receipt SMS per transaction (docs/messaging.md, "Receipts"), through the real
`lps serve`: written in the group commit of its journal row, at the stores that send them
only, never for a decline, a retransmission, a reversal or a customer who turned them off,
one to one with the money rows after a SIGKILL, and delivered in UCS-2 by
`lps messages send --once` through the real SMSC."""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from iso8583 import Message
from lps.cli import main as lps_main
from switch.client import TerminalClient
from switch.config import ConfigError
from switch.journal import Receipt
from switch.messaging.receipts import UNNAMED, Receipts
from tests.engines import query as engine_query
from tests.messaging.conftest import lps, write_config
from tests.programs.support import C1, C3, NOW, Harness, points_balance, tags
from tests.switch.support import T1, T2, T3, burn, card, earn, request, reversal
from tests.switch.test_crash import PANS, load, retransmit_all, start
from tests.switch.test_crash import write_config as crash_config
from tests.waits import EVENT

ON = "STORE0000000001"
RECEIPTS_ON = f"\n[store.{ON}.receipts]\nsms = true\n"
NAME = "نگار رضایی"


def whole_texts(smsc: Any) -> list[str]:
    """Each message's text, its concatenated parts joined (UDH 05 00 03 ref total n)."""
    parts: dict[int, list[tuple[int, str]]] = {}
    for s in smsc.submitted:
        udh = s.udh()
        key = udh[3] if udh else -len(parts) - 1
        parts.setdefault(key, []).append((udh[5] if udh else 1, s.text()))
    return ["".join(text for _, text in sorted(p)) for p in parts.values()]


def enroll(config: str, pan: str, *profile: str) -> None:
    assert lps_main(["cards", "enroll", pan, "--config", config, *profile]) == 0


def receipt_keys(db: str | Path) -> list[str]:
    return [k for (k,) in engine_query(db, "SELECT dedupe_key FROM outbox WHERE template LIKE "
                                           "'receipt%' ORDER BY dedupe_key")]


async def exchange(port: int, messages: list[Message]) -> list[Message]:
    c = await TerminalClient("ascii", "127.0.0.1", port).connect()
    try:
        for tid in (T1, T2):
            r = await c.send(request("0800", tid, 990000 + int(tid[-1]), extra={70: "001"}))
            assert r.fields[39] == "00"
        return [await c.send(m) for m in messages]
    finally:
        await c.close()


def test_default_wording_and_overrides_load(tmp_path: Path) -> None:
    config = write_config(tmp_path, sms_port=2775, messaging=RECEIPTS_ON + (
        '[messaging.templates.receipt_earn.coalition.tehran-mall]\nsms = "{points} امتیاز"\n'))
    assert config.messaging is not None
    templates = config.messaging.templates
    assert templates["receipt_earn"].resolve("tehran-mall", ON).sms == "{points} امتیاز"
    assert templates["receipt_topup"].default.sms is not None
    assert templates["receipt_topup"].kind == "transactional"


@pytest.mark.parametrize("extra, sms, key, reason", [
    ('[messaging.templates.receipt_earn]\nsms = "{bonus}"\n', True,
     "messaging.templates.receipt_earn", "names bonus, which a receipt does not fill"),
    ('[messaging.templates.receipt_redeem]\nkind = "promotional"\nsms = "x"\n', True,
     "messaging.templates.receipt_redeem.kind", "a receipt is transactional"),
    ('[messaging.templates.receipt_return]\nemail_body = "x"\n', True,
     "messaging.templates.receipt_return.sms", f"store {ON} sends receipts by SMS"),
    ("", False, f"store.{ON}.receipts.sms", "receipts need [messaging.sms]"),
    (f'[store.{ON}.receipts]\nsms = "yes"\n', True, f"store.{ON}.receipts.sms", "true or"),
    (f'[store.{ON}.receipts]\nsmss = true\n', True, f"store.{ON}.receipts.smss",
     "unknown key"),
])
def test_bad_receipt_settings_are_refused_naming_the_key(tmp_path: Path, extra: str, sms: bool,
                                                         key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        write_config(tmp_path, sms_port=2775 if sms else None,
                     messaging=(RECEIPTS_ON if "receipts]" not in extra else "") + extra)
    assert err.value.key == key
    assert reason in err.value.reason


def test_the_hook_words_each_kind_from_the_card_it_left() -> None:
    """In process, on the core's harness: the template and values per kind, right after
    `apply` (earn, stored value sold and spent), nothing at a store without receipts or for
    a decline."""
    h = Harness()
    hook = Receipts({C1, C3}, lambda: h.state, ZoneInfo("Asia/Tehran"))
    pan = card(81)

    def made() -> list[Receipt] | None:
        return hook(h.entries[-1:])

    r = h.earn(T1, pan, 200_000, now=NOW)
    [e] = made() or []
    assert (e.template, e.store_id, e.pan) == ("receipt_earn", C1, pan)
    assert e.params == {"name": UNNAMED, "points": int(tags(r)["EP"]),
                        "balance": points_balance(r), "amount": 200_000, "credit": 0,
                        "date": "2026-11-23", "time": "2026-11-23T10:00:00+00:00"}
    h.earn(T2, pan, 200_000)
    assert made() is None                                   # Book City sends none
    h.pc(T3, pan, "210060", 100_000)                        # top-up, 15 % bonus
    [e] = made() or []
    assert (e.template, e.params["amount"], e.params["credit"]) == ("receipt_topup", 100_000,
                                                                     115_000)
    h.pc(T3, pan, "006000", 30_000)
    [e] = made() or []
    assert (e.template, e.params["amount"], e.params["credit"]) == ("receipt_purchase", 30_000,
                                                                     85_000)
    assert h.pc(T1, pan, "900000", 10**9).fields[39] == "51"
    assert made() is None


def test_receipts_follow_approvals_at_the_store_that_sends_them(tmp_path: Path,
                                                                 smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port, messaging=RECEIPTS_ON)
    assert config.receipts == {ON}
    db = config.switch.database
    named, unknown = card(71), card(72)
    enroll(config.path, named, "--name", NAME, "--phone", "۰۹۱۲۱۲۳۴۵۶۷")
    enroll(config.path, unknown)  # no customer account, no mobile: no receipt
    declined = card(73)            # its customer turned receipts off
    enroll(config.path, declined, "--name", "کاوه", "--phone", "09351112222")
    assert lps_main(["messages", "optout", "۰۹۳۵۱۱۱۲۲۲۲", "--receipts", "--config",
                     config.path]) == 0
    assert config.switch.listen_ascii is not None
    port = config.switch.listen_ascii.port
    first = earn(T1, 1, named, 200_000)
    redeem = burn(T1, 3, named, 1_000)
    proc = start(Path(config.path), port)
    try:
        r = asyncio.run(exchange(port, [
            first,
            earn(T2, 2, named, 200_000),          # a store without receipts
            redeem,
            burn(T1, 4, named, 10**9),            # declined 51
            first,                                # a retransmission: answered from memory
            earn(T1, 5, unknown, 100_000),
            reversal(redeem, 6),
            earn(T1, 7, declined, 100_000),
        ]))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert [m.fields[39] for m in r] == ["00", "00", "00", "51", "00", "00", "00", "00"]
    assert r[4] == r[0]
    ids = dict(engine_query(db, f"SELECT stan, id FROM journal WHERE terminal_id = '{T1}' "
                                "AND kind IN ('earn', 'redeem')"))
    assert receipt_keys(db) == sorted([f"receipt:{ids['000001']}", f"receipt:{ids['000003']}"])
    rows = engine_query(db, "SELECT template, kind, store_id, recipient, customer_ref, params "
                            "FROM outbox ORDER BY id")
    assert [(t, k, s, m) for t, k, s, m, _, _ in rows] == [
        ("receipt_earn", "transactional", ON, "989121234567"),
        ("receipt_redeem", "transactional", ON, "989121234567")]
    params = json.loads(rows[0][5])
    assert params["name"] == NAME and params["points"] == int(tags(r[0])["EP"]) > 0
    assert params["balance"] == points_balance(r[0]) and params["amount"] == 200_000
    assert json.loads(rows[1][5])["balance"] == points_balance(r[2])
    assert not any(named in json.dumps(row, ensure_ascii=False) for row in rows)

    done = lps("messages", "send", "--once", "--config", config.path)
    assert done.returncode == 0, done.stderr
    assert "sent 2," in done.stdout
    assert {s.data_coding for s in smsc.submitted} == {8}  # Persian: UCS-2
    texts = whole_texts(smsc)
    assert len(texts) == 2
    assert any(t.startswith(f"{NAME} عزیز، خرید ۲۰۰٬۰۰۰ ریال در Cafe Naderi") for t in texts)
    assert not any(re.search("[0-9]", t) for t in texts)  # Persian digits: no card number
    assert named not in done.stdout + done.stderr


# SQLite in the default run: the receipts' SQL is the same on both engines (the test budget,
# docs/testing.md); without this mark it runs on PostgreSQL as well.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_sigkill_leaves_money_rows_and_receipts_one_to_one(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """The crash test's load (tests/switch/test_crash.py) with receipts on at two of the three
    stores: after the kill, and after every request is sent again on the restarted switch,
    each approved earn or burn there has exactly one receipt and each receipt its row."""
    path, port = crash_config(tmp_path, journal_settings)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(RECEIPTS_ON + "[store.STORE0000000003.receipts]\nsms = true\n"
                 '[messaging.sms]\nsmpp = "127.0.0.1:2775"\nsystem_id = "lps"\n'
                 'source_addr = "LPS"\n')
    db: str | Path = journal_settings.get("journal_url") or journal_settings["database"]
    for i, pan in enumerate(PANS[:-1]):  # the last card has no mobile
        enroll(str(path), pan, "--name", f"مشتری {i}", "--phone", f"0912000000{i}")

    def paired() -> int:
        money = engine_query(db, "SELECT id FROM journal WHERE response_code = '00' AND kind "
                                 f"IN ('earn', 'redeem') AND store_id IN ('{ON}', "
                                 f"'STORE0000000003') AND pan != '{PANS[-1]}'")
        keys = receipt_keys(db)
        assert keys == sorted(f"receipt:{i}" for (i,) in money)
        return len(keys)

    proc = start(path, port)
    _, sent = asyncio.run(load(port, random.Random(16), 1, 300, proc))
    proc.wait(EVENT)
    assert proc.returncode == -signal.SIGKILL
    before = paired()
    assert before > 0
    proc = start(path, port)
    try:
        asyncio.run(retransmit_all(port, sent))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    assert paired() >= before
