"""Shared by the rewards tests: coupons issued straight into a journal, gift cards, requests."""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import subprocess
from typing import Any

from iso8583 import Message
from switch.core import coupon_code
from switch.core.luhn import luhn_complete
from switch.core.rewards import CouponTerms
from switch.journal import Journal
from tests.switch.journaled import Journaled
from tests.switch.support import NOW, T1, T2, T3, request, sign_on

COALITION = "tehran-mall"
CAFE, BOOKS, SPORTS = "STORE0000000001", "STORE0000000002", "STORE0000000003"


def signed_on(j: Journaled) -> Journaled:
    """`j` with the example's three terminals signed on."""
    for tid in (T1, T2, T3):
        assert j.rc(sign_on(tid)) == "00"
    return j


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a switch `start` started: SIGTERM, then a kill if it does not exit in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def terms(*, issuer: str = "", percent: int = 0, amount: int = 0, max_discount: int = 0,
          min_amount: int = 0, per_customer: int = 0, coalition: str = COALITION,
          expires_on: dt.date = dt.date(2026, 12, 31)) -> CouponTerms:
    return CouponTerms(0, coalition, issuer, percent, amount, max_discount, min_amount,
                       per_customer, "", expires_on)


def issue(journal: Journal, t: CouponTerms, count: int = 1) -> list[str]:
    """`count` new codes of an issue with terms `t`, recorded in the journal."""
    codes = [coupon_code.new_code(secrets.randbelow) for _ in range(count)]
    journal.issue_coupons(t, [coupon_code.digest(c) for c in codes], "test.csv", NOW, "test",
                          lambda _issue: None)
    return codes


def gift_card(n: int) -> str:
    """A Luhn-valid PAN in the example's gift-card BIN range."""
    return luhn_complete(f"639000{n:09d}")


def redeem_coupon(tid: str, stan: int, pan: str, code: str, amount: int | None,
                  **kw: Any) -> Message:
    tags = kw.pop("tags", None) or {"CP": code}
    return request("0200", tid, stan, pan=pan, pc="900000", amount=amount, tags=tags, **kw)


def tag(msg: Message | None, name: str) -> str | None:
    from iso8583.loyalty import parse_tlv

    assert msg is not None
    if 48 not in msg.fields:
        return None
    return parse_tlv(msg.text(48)).get(name)
