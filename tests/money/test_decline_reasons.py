"""The reason a decline's log line gives, for each response code and cause.

docs/switch.md, "Why a request was declined: the log's reasons": the server logs every answer
that is not `00` at DEBUG (`event=declined ... reason=...`), and `decide_failed` at ERROR for a
`96`; the reason is the one place a help desk reads why a card was declined, so its text is a
contract like the response code. Each row below is the request that meets one cause, the code
it is answered with and the reason exactly as the table of docs/switch.md gives it (values
named in it are worked from the row's own setup). The reasons are read from what the request
path hands the log (`Shell.reason`); the last test reads the log line itself from a real
switch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from switch.config import Config, HostPort
from switch.core import DEFAULT_LIMITS, Checks, MoneyLimits, coupon_code
from switch.core.catalog import AT_ISSUER, CouponRules
from switch.core.rewards import CouponTerms
from switch.server import Switch
from tests.customers.support import by_mobile
from tests.money.support import Shell, rc, scratch_dir
from tests.money.test_coupons import void
from tests.rewards.support import BOOKS, gift_card, issue, redeem_coupon, terms
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    PatientClient,
    batch_close,
    burn,
    card,
    earn,
    example_config,
    request,
    reversal,
    sign_on,
)

A, B = card(951), card(952)
G = gift_card(951)
#: A Luhn-valid card outside every BIN range of the example.
STRANGER = card(951, bin_="999999")
#: The example's largest gift-card balance (`[coalition.tehran-mall.gift_cards]`).
MAX_BALANCE = 50_000_000
#: The business day of `NOW` (13:30 in Tehran on 23 November 2026).
TODAY = dt.date(2026, 11, 23)


def send(sh: Shell, msg: Message, checks: Checks | None = None) -> Message:
    return sh.send(msg, checks=checks or Checks())


def stan(sh: Shell) -> int:
    return sh.next_stan()


def code_of(sh: Shell, t: CouponTerms) -> str:
    [code] = issue(sh.store, t)
    return code


def use(sh: Shell, code: str, amount: int, pan: str = A, tid: str = T1) -> Message:
    return sh.send(redeem_coupon(tid, stan(sh), pan, code, amount))


def topup(sh: Shell, tid: str, amount: int, pan: str = A,
          extra: dict[int, str] | None = None) -> Message:
    return sh.send(request("0200", tid, stan(sh), pan=pan, pc="210060", amount=amount,
                           extra=extra))


def sold(sh: Shell, amount: int, extra: dict[int, str] | None = None) -> Message:
    return topup(sh, T1, amount, pan=G, extra=extra)


def earned(sh: Shell, amount: int = 100_000, pan: str = A) -> Message:
    msg = earn(T1, stan(sh), pan, amount)
    assert rc(sh.send(msg)) == "00"
    return msg


# -- the requests, one per cause (each returns the answer whose reason is checked) ----------

def late_original(sh: Shell) -> Message:
    msg = earn(T1, stan(sh), A, 10_000)
    assert rc(sh.send(reversal(msg, stan(sh)))) == "25"
    return sh.send(msg)


def unknown_original(sh: Shell) -> Message:
    return sh.send(reversal(earn(T1, stan(sh), A, 10_000), stan(sh)))


def advice_of_a_redemption(sh: Shell) -> Message:
    return sh.send(request("0220", T1, stan(sh), pan=A, pc="900000", amount=1_000))


def partial_reversal(sh: Shell) -> Message:
    original = earned(sh, 10_000)
    back = reversal(original, stan(sh))
    back.fields[4] = f"{5_000:012d}"
    return sh.send(back)


def reversal_of_another_card(sh: Shell) -> Message:
    original = earned(sh, 10_000)
    back = reversal(original, stan(sh))
    back.fields[2] = B
    return sh.send(back)


def reversal_of_another_processing_code(sh: Shell) -> Message:
    original = earned(sh, 10_000)
    back = reversal(original, stan(sh))
    back.fields[3] = "900000"
    return sh.send(back)


def reversal_naming_another_mti(sh: Shell) -> Message:
    original = earned(sh, 10_000)
    back = reversal(original, stan(sh))
    back.fields[90] = build_de90(OriginalData("0220", original.text(11), original.text(7)))
    return sh.send(back)


def reversal_of_an_earn_with_a_return(sh: Shell) -> Message:
    original = earned(sh, 100_000)
    assert rc(ret(sh, 10_000, rrn_of(sh, original))) == "00"
    return sh.send(reversal(original, stan(sh)))


def rrn_of(sh: Shell, msg: Message) -> str:
    """The RRN (journal id) the switch gave the request `msg`, from the journal."""
    [(jid,)] = sh.sql("SELECT id FROM journal WHERE stan = ? AND terminal_id = ?",
                      (msg.text(11), msg.text(41)))
    return f"{int(str(jid)):012d}"


def ret(sh: Shell, amount: int, original_rrn: str) -> Message:
    return sh.send(request("0200", T1, stan(sh), pan=A, pc="200000", amount=amount,
                           tags={"OR": original_rrn}))


def return_past_its_earn(sh: Shell) -> Message:
    return ret(sh, 10_001, rrn_of(sh, earned(sh, 10_000)))


def reversal_past_the_batch(sh: Shell) -> Message:
    original = earned(sh, 10_000)
    sh.restart(NOW, limits=MoneyLimits(max_batch_amount=9_999))
    return sh.send(reversal(original, stan(sh)))


def redemption_past_the_batch(sh: Shell) -> Message:
    earned(sh, 200_000)
    sh.restart(NOW, limits=MoneyLimits(max_batch_amount=4_999))
    return sh.send(burn(T1, stan(sh), A, 5_000))


def purse_purchase_past_the_batch(sh: Shell) -> Message:
    assert rc(topup(sh, T3, 100_000)) == "00"
    sh.restart(NOW, limits=MoneyLimits(max_batch_amount=4_999))
    return sh.send(request("0200", T3, stan(sh), pan=A, pc="006000", amount=5_000))


def batch_close_of_another_code(sh: Shell) -> Message:
    msg = batch_close(T1, stan(sh), "000001", {})
    msg.fields[3] = "000000"
    return sh.send(msg)


def coupon_case(terms_: CouponTerms, amount: int = 5_000, *, typed: str | None = None,
                before: Callable[[Shell, str], None] | None = None
                ) -> Callable[[Shell], Message]:
    def run(sh: Shell) -> Message:
        code = code_of(sh, terms_)
        if before is not None:
            before(sh, code)
        return use(sh, code if typed is None else typed, amount)
    return run


def per_customer(sh: Shell) -> Message:
    first, second = issue(sh.store, terms(amount=1_000, per_customer=1), 2)
    assert rc(use(sh, first, 5_000)) == "00"
    return use(sh, second, 5_000)


def coupon_by_mobile(sh: Shell) -> Message:
    code = code_of(sh, terms(amount=1_000))
    return sh.send(by_mobile("0200", T1, stan(sh), "09121234567", "900000", 5_000,
                             tags={"CP": code}))


def at_issuer_only(cfg: Config) -> Config:
    co = cfg.coalitions["tehran-mall"]
    return dataclasses.replace(cfg, coalitions={
        co.id: dataclasses.replace(co, coupons=CouponRules(store_coupons=AT_ISSUER))})


def used_coupon(sh: Shell) -> Message:
    code = code_of(sh, terms(amount=1_000))
    assert rc(use(sh, code, 5_000, pan=B)) == "00"
    return use(sh, code, 5_000)


def first_use(sh: Shell) -> str:
    """The reason of `used_coupon`: it names the journal id of the use (`coupons`)."""
    [(by,)] = sh.sql("SELECT redeemed_by FROM coupons")
    return f"the coupon was used by #{by}"


def require_mac(cfg: Config) -> Config:
    return dataclasses.replace(cfg, switch=dataclasses.replace(cfg.switch, require_mac=True))


def till(sh: Shell, amount: int, tags: dict[str, str], tid: str = T1) -> Message:
    return sh.send(request("0200", tid, stan(sh), pan=A, pc="940000", amount=amount,
                           tags=tags))


def membership(sh: Shell, level: str, amount: int) -> Message:
    return sh.send(request("0200", T1, stan(sh), pan=A, pc="950000", amount=amount,
                           tags={"ML": level}))


def lower_membership(sh: Shell) -> Message:
    assert rc(membership(sh, "gold", 10_000_000)) == "00"
    return membership(sh, "silver", 4_000_000)


def reversal_by_another_mobile(sh: Shell) -> Message:
    original = by_mobile("0200", T1, stan(sh), "09121234567", "000000", 10_000)
    assert rc(sh.send(original)) == "00"
    back = by_mobile("0400", T1, stan(sh), "09127654321", "000000", 10_000, batch=None,
                     extra={90: build_de90(OriginalData("0200", original.text(11),
                                                        original.text(7)))})
    return sh.send(back)


@dataclasses.dataclass(frozen=True)
class Row:
    """One cause: the request meeting it, the code and the reason (docs/switch.md)."""

    run: Callable[[Shell], Message]
    rc: str
    reason: str | Callable[[Shell], str]
    limits: MoneyLimits = DEFAULT_LIMITS
    cfg: Callable[[Config], Config] | None = None
    signed_on: bool = True


ROWS: dict[str, Row] = {
    # checks every request passes (switch/core/decide.py)
    "MTI not supported": Row(
        lambda sh: sh.send(request("0100", T1, stan(sh), pan=A, pc="000000", amount=1)),
        "12", "MTI 0100 is not supported"),
    "DE62 not a batch number": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000, batch="12345")),
        "30", "DE62 must be the batch number, 6 digits (0-9)"),
    "HSM unreachable": Row(
        lambda sh: send(sh, earn(T1, stan(sh), A, 1_000), Checks(hsm_unavailable=True)),
        "91", "HSM unavailable"),
    "MAC wrong": Row(
        lambda sh: send(sh, earn(T1, stan(sh), A, 1_000), Checks(mac_ok=False)),
        "63", "MAC verification failed"),
    "MAC missing": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000)),
        "63", "MAC missing (require_mac)", cfg=require_mac),
    "STAN reused": Row(
        lambda sh: (sh.send(earn(T1, 77, A, 1_000)), sh.send(earn(T1, 77, A, 2_000)))[1],
        "94", "STAN reused with different content"),
    "a decline sent again": Row(
        lambda sh: (sh.send(burn(T1, 78, A, 1_000)), sh.send(burn(T1, 78, A, 1_000)))[1],
        "51", "retransmission"),
    "unknown terminal": Row(
        lambda sh: sh.send(earn("T0000099", stan(sh), A, 1_000)),
        "03", "unknown terminal 'T0000099' or store 'STORE0000000009'"),
    # 0800 (switch/core/network.py)
    "0800 of an unknown terminal": Row(
        lambda sh: sh.send(sign_on("T0000099", stan(sh))),
        "03", "unknown terminal 'T0000099'"),
    "0800 of another network code": Row(
        lambda sh: sh.send(request("0800", T1, stan(sh), extra={70: "999"})),
        "12", "network code '999' not supported"),
    "key exchange without a TMK": Row(
        lambda sh: sh.send(request("0800", T1, stan(sh), extra={70: "101"})),
        "58", "no terminal master key (lps keys new-terminal)"),
    # 0200/0220 (switch/core/financial.py)
    "processing code not supported": Row(
        lambda sh: sh.send(request("0200", T1, stan(sh), pan=A, pc="123456", amount=1_000)),
        "12", "processing code 123456 is not supported"),
    "till discount's DE48 malformed": Row(
        lambda sh: sh.send(request("0200", T1, stan(sh), pan=A, pc="940000", amount=1_000,
                                   tags={"BQ": "2"})),
        "30", "DE48 BQ and BP go together"),
    "membership's DE48 malformed": Row(
        lambda sh: membership(sh, "", 4_000_000),
        "30", "DE48 ML must be a level: 1-20 letters, digits, - or _"),
    "original after its reversal": Row(late_original, "05", "already reversed before it arrived"),
    "before sign-on": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000)),
        "58", "terminal not signed on", signed_on=False),
    "advice of a redemption": Row(
        advice_of_a_redemption, "12", "advice of processing code 900000 is not supported"),
    "DE4 over the largest amount": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_001)),
        "61", "DE4 is over the largest amount", MoneyLimits(max_amount=1_000)),
    "card of no coalition's range": Row(
        lambda sh: sh.send(earn(T1, stan(sh), STRANGER, 1_000)), "14", "card refused"),
    "card expired": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000, extra={14: "2610"})),
        "54", "card expired"),
    "new gift card expired": Row(
        lambda sh: sold(sh, 1_000, extra={14: "2610"}), "54", "card expired"),
    "gift card earning": Row(
        lambda sh: (sold(sh, 1_000), sh.send(earn(T1, stan(sh), G, 1_000)))[1],
        "57", "a gift card is a purse only: processing code 000000 is not for it"),
    "coupon by mobile number": Row(
        coupon_by_mobile, "57", "a coupon is redeemed with a card, not DE48 MB"),
    # earn, redeem (switch/core/earn.py, redeem.py) and the limits (ledger.py, outcome.py)
    "earn of nothing": Row(lambda sh: sh.send(earn(T1, stan(sh), A, 0)), "13", ""),
    "earn past the batch": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000)),
        "61", "the batch's totals would overflow", MoneyLimits(max_batch_amount=999)),
    "earn past the points limit": Row(
        lambda sh: sh.send(earn(T1, stan(sh), A, 1_000_000)),
        "61", "the card's points would pass their limit", MoneyLimits(max_points=1)),
    "redemption short of points": Row(
        lambda sh: sh.send(burn(T1, stan(sh), A, 1_000)), "51", ""),
    "redemption past the batch": Row(
        redemption_past_the_batch, "61", "the batch's totals would overflow"),
    # stored value (switch/core/stored_value.py)
    "top-up where no stored value is sold": Row(
        lambda sh: topup(sh, T1, 1_000), "58", "this store sells no stored value"),
    "top-up of nothing": Row(lambda sh: topup(sh, T3, 0), "13", ""),
    "top-up over the largest one": Row(
        lambda sh: topup(sh, T3, 1_000), "61", "the top-up is over the largest one",
        MoneyLimits(max_topup=1_149)),
    "top-up past the stored value limit": Row(
        lambda sh: topup(sh, T3, 1_000), "61", "the card's stored value would pass its limit",
        MoneyLimits(max_stored_value=1_149)),
    "purse purchase past the batch": Row(
        purse_purchase_past_the_batch, "61", "the batch's totals would overflow"),
    # gift cards (switch/core/gift_card.py)
    "gift card sale of nothing": Row(lambda sh: sold(sh, 0), "13", ""),
    "gift card sale over the largest top-up": Row(
        lambda sh: sold(sh, 1_001), "61", "the sale is over the largest top-up",
        MoneyLimits(max_topup=1_000)),
    "gift card over its largest balance": Row(
        lambda sh: sold(sh, MAX_BALANCE + 1), "61", f"a gift card holds at most {MAX_BALANCE}"),
    # till discounts and memberships (switch/core/till_discount.py, membership.py)
    "discount of no purchase": Row(
        lambda sh: till(sh, 0, {}), "13", "a discount needs the purchase in DE4"),
    "discount that applies to nothing": Row(
        lambda sh: till(sh, 1_000, {}), "13", "no discount applies to this purchase"),
    "discount of points off the step": Row(
        lambda sh: till(sh, 1_000, {"DP": "150"}), "13", "DP must be a positive multiple of 100"),
    "discount of too many points": Row(
        lambda sh: till(sh, 1_000, {"DP": "600"}), "13", "points convert into at most 50 % off"),
    "discount of points not held": Row(
        lambda sh: till(sh, 1_000, {"DP": "100"}), "51", "not enough points"),
    "buy-get where there is none": Row(
        lambda sh: till(sh, 1_000, {"BQ": "3", "BP": "100"}, tid=T2),
        "12", "the store has no buy-get offer"),
    "buy-get items over DE4": Row(
        lambda sh: till(sh, 1_000, {"BQ": "3", "BP": "400"}),
        "13", "the offer's items cost more than is left of DE4"),
    "membership of no level": Row(
        lambda sh: membership(sh, "platinum", 1_000), "12", "no membership level 'platinum'"),
    "membership at another price": Row(
        lambda sh: membership(sh, "silver", 1_000),
        "13", "a silver membership costs 4000000, DE4 is 1000"),
    "membership lower than the running one": Row(
        lower_membership, "12",
        "a GOLD membership runs until 2027-11-22: a lower one would take it away"),
    # returns (switch/core/returns.py)
    "return of an unknown earn": Row(lambda sh: ret(sh, 1_000, f"{999:012d}"), "25", ""),
    "return past its earn": Row(return_past_its_earn, "13", ""),
    # reversals (switch/core/reversal.py)
    "reversal of an unknown original": Row(unknown_original, "25", ""),
    "reversal of another card": Row(
        reversal_of_another_card, "12", "reversal does not match its original: card (DE2/DE35)"),
    "reversal by another mobile number": Row(
        reversal_by_another_mobile, "12",
        "reversal does not match its original: card (DE48 MB)"),
    "partial reversal": Row(
        partial_reversal, "12", "reversal does not match its original: amount (DE4; partial "
        "reversals are not supported)"),
    "reversal of another processing code": Row(
        reversal_of_another_processing_code, "12",
        "reversal does not match its original: processing code (DE3)"),
    "reversal naming another MTI": Row(
        reversal_naming_another_mti, "12",
        "reversal does not match its original: DE90's original MTI"),
    "reversal of an earn with a return": Row(
        reversal_of_an_earn_with_a_return, "12",
        "returns stand against the original: reverse them first"),
    "reversal past the batch": Row(
        reversal_past_the_batch, "61", "the batch's totals would overflow"),
    # batch close (switch/core/batch.py)
    "batch close of another processing code": Row(
        batch_close_of_another_code, "12", "processing code 000000 is not a batch close"),
    "batch out of balance": Row(
        lambda sh: sh.send(batch_close(T1, stan(sh), "000001", {74: 1})), "95", ""),
    # coupons (switch/core/coupon.py)
    "coupon with RP": Row(
        lambda sh: sh.send(redeem_coupon(T1, stan(sh), A, "", 5_000, tags={
            "CP": code_of(sh, terms(amount=1_000)), "RP": "10"})),
        "12", "a coupon redemption carries no RP: redeem points in a 900000 of its own"),
    "coupon code too short": Row(
        coupon_case(terms(amount=1_000), typed="7KQ4"),
        "14", "a coupon code has 16 symbols, this one 4"),
    "coupon code far too long": Row(
        coupon_case(terms(amount=1_000), typed="7" * 100),
        "14", "the coupon code is far too long"),
    "coupon code of another alphabet": Row(
        coupon_case(terms(amount=1_000), typed="7KQ4-M2XD-9PTR-W3H!"),
        "14", "the coupon code holds a character outside its alphabet"),
    "coupon code mistyped": Row(
        coupon_case(terms(amount=1_000), typed=coupon_code.new_code(lambda n: 7)[:-1] + "X"),
        "14", "the coupon code's check symbol is wrong (a typo)"),
    "no such coupon": Row(
        coupon_case(terms(amount=1_000), typed=coupon_code.new_code(lambda n: 7)),
        "14", "no such coupon"),
    "coupon of another coalition": Row(
        coupon_case(terms(amount=1_000, coalition="isfahan-bazaar")),
        "57", "a coupon of coalition isfahan-bazaar"),
    "store coupon elsewhere": Row(
        coupon_case(terms(amount=1_000, issuer=BOOKS)),
        "57", f"a coupon of store {BOOKS}, taken there only", cfg=at_issuer_only),
    "coupon of a segment": Row(
        coupon_case(CouponTerms(0, "tehran-mall", "", 0, 1_000, 0, 0, 0, "new", TODAY)),
        "57", "a coupon for the customers of segment new"),
    "coupon void": Row(
        coupon_case(terms(amount=1_000), before=lambda sh, code: void(sh, code)),
        "62", "the coupon is void"),
    "coupon expired": Row(
        coupon_case(terms(amount=1_000, expires_on=TODAY - dt.timedelta(days=1))),
        "54", f"the coupon expired after {TODAY - dt.timedelta(days=1)}"),
    "coupon used": Row(used_coupon, "05", first_use),
    "purchase under the coupon's minimum": Row(
        coupon_case(terms(amount=1_000, min_amount=5_001)),
        "13", "the purchase is under the coupon's minimum 5001"),
    "coupon purchase of nothing": Row(
        coupon_case(terms(amount=1_000), 0), "13", "the purchase is under the coupon's minimum 0"),
    "coupon's issue used up by the card": Row(
        per_customer, "65", "the card has used 1 coupons of issue 1"),
    "coupon's discount nothing": Row(
        coupon_case(terms(percent=1), 99), "13", "the discount would be nothing"),
    "coupon past the batch": Row(
        coupon_case(terms(amount=1_000)), "61", "the batch's totals would overflow",
        MoneyLimits(max_batch_amount=4_999)),
}


@pytest.fixture(scope="module")
def blank() -> Iterator[Path]:
    """A fresh journal, made once: each row starts from a copy of it (creating the schema is
    most of a new journal's cost, and the copy is the same database)."""
    with scratch_dir() as path:
        Shell(path / "blank.db", sign_on_terminals=False).close()
        yield path / "blank.db"


@pytest.mark.parametrize("cause", list(ROWS))
def test_each_cause_is_answered_with_its_code_and_reason(blank: Path, cause: str) -> None:
    row = ROWS[cause]
    with scratch_dir() as path:
        db = path / "lps.db"
        shutil.copy2(blank, db)  # with its mode: the journal must be private (0600)
        cfg = example_config(db)
        sh = Shell(db, row.cfg(cfg) if row.cfg else cfg, limits=row.limits,
                   sign_on_terminals=row.signed_on)
        try:
            resp = row.run(sh)
            reason = row.reason(sh) if callable(row.reason) else row.reason
            assert (rc(resp), sh.reason) == (row.rc, reason)
        finally:
            sh.close()


def test_a_96_names_the_failure_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/switch.md: a `96` (deciding failed) gives the exception's type and message, any
    card number in it masked, as `decide_failed`'s `error`."""
    def unreadable(*_: object) -> None:
        raise OSError(f"disk I/O error reading {A}")

    with scratch_dir() as path:
        sh = Shell(path / "lps.db")
        try:
            monkeypatch.setattr(sh.store, "fetch", unreadable)
            assert rc(sh.send(earn(T1, stan(sh), A, 1_000))) == "96"
            assert sh.reason == f"OSError: disk I/O error reading {A[:6]}{'*' * 6}{A[-4:]}"
        finally:
            sh.close()


def test_the_declined_log_line_carries_the_reason_and_a_masked_card(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """docs/switch.md: a decline is logged at DEBUG as `event=declined` with the response
    code, the terminal, the STAN, the card masked and the reason; never the card in clear."""
    local = HostPort("127.0.0.1", 0)
    cfg = example_config(tmp_path / "lps.db", listen_ascii=local, listen_bcd=local,
                         metrics=local)
    caplog.set_level(logging.DEBUG, logger="lps.switch")

    async def main() -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            addr = sw.addresses["ascii"]
            c = await PatientClient("ascii", addr.host, addr.port).connect()
            assert (await c.send(sign_on(T2, 1))).fields[39] == "00"
            resp = await c.send(topup_msg(T2, 2, A, 1_000))
            assert resp.fields[39] == "58"
            await c.close()
        finally:
            await sw.stop()

    asyncio.run(main())
    [line] = [r.getMessage() for r in caplog.records if "event=declined" in r.getMessage()]
    assert "rc=58" in line and f"tid={T2}" in line and "stan=000002" in line
    assert f"pan={A[:6]}{'*' * 6}{A[-4:]}" in line
    assert 'reason="this store sells no stored value"' in line
    assert A not in caplog.text


def topup_msg(tid: str, stan_: int, pan: str, amount: int) -> Message:
    return request("0200", tid, stan_, pan=pan, pc="210060", amount=amount)
