"""A reversal by mobile number (DE48 MB) whose original has left the replay memory
(docs/switch.md "Memory", docs/customers.md "Mobile numbers at the POS"): the switch reads the
original back from the journal by its key, undoes it on the account's virtual card, answers a
retransmission the same and credits nothing twice, also after a restart; on both engines."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from switch.config import load_config
from tests.customers.support import by_mobile, mobile_config, virtual_cards
from tests.programs.support import points_balance, tags
from tests.switch.journaled import Journaled
from tests.switch.support import T1, T2, card, inquiry, sign_on
from tests.switch.test_replay_memory import key_of

MOBILE = "09121234567"   # ASCII digits on the wire (docs/protocol.md §3)
BOUND = 4


def _reversal(original: Message, stan: int) -> Message:
    de90 = build_de90(OriginalData(original.mti, original.text(11), original.text(7)))
    return by_mobile("0400", T1, stan, MOBILE, "000000", int(original.text(4)), batch=None,
                     extra={90: de90})


def _balance(j: Journaled, stan: int) -> int:
    d = j.send(by_mobile("0200", T1, stan, MOBILE, "310000"))
    assert d.response is not None and d.response.text(39) == "00"
    return points_balance(d.response)


def test_a_mobile_reversal_after_its_original_left_memory(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    path, _port = mobile_config(tmp_path, journal=journal_settings)
    cfg = load_config(path)
    cfg = dataclasses.replace(cfg, switch=dataclasses.replace(cfg.switch, replay_memory=BOUND))
    j = Journaled(tmp_path, cfg)
    try:
        for tid in (T1, T2):
            assert j.rc(sign_on(tid)) == "00"
        original = by_mobile("0200", T1, 1, MOBILE, "000000", 200_000)
        d = j.send(original)
        assert d.response is not None and d.response.text(39) == "00"
        assert int(tags(d.response)["EP"]) == 20
        for stan in range(100, 100 + 3 * BOUND):   # other requests push it out of memory
            assert j.rc(inquiry(T2, stan, card(503))) == "00"
        assert key_of(original) not in j.state.txns

        first = j.send(_reversal(original, 2))
        assert first.response is not None and first.response.text(39) == "00"
        assert _balance(j, 3) == 0
        again = j.send(_reversal(original, 2))      # the POS did not hear: the same answer
        assert again.response is not None and again.response.text(39) == "00"
        assert not again.entries or all(e.points == 0 for e in again.entries)
        assert _balance(j, 4) == 0

        j.restart()
        late = j.send(_reversal(original, 5))       # another reversal of it: nothing left
        assert late.response is not None and late.response.text(39) in ("00", "25")
        assert _balance(j, 6) == 0
        [(virtual, account)] = virtual_cards(cfg.switch.journal)
        assert account == 1 and virtual.startswith("639999")
    finally:
        j.close()
