"""What a decision reads besides the state (`needs`, docs/switch.md "The request path" step 2).

`needs(state, request)` names exactly the journal rows and HSM verdicts the decision reads: a
retransmission's stored reply, a reversal's original (and, for an earn, the returns against
it), a return's earn, a batch's totals the cache has not seen, a coupon, a mobile number's
account, and the HSM's verdicts (the request's MAC, a spend's PIN, new session keys,
docs/security.md). What is still in memory (decided, not committed) is never asked for, and a
request whose rows are all in memory reads nothing. Each expected `Needs` below is written out
from those rules: a field missing fails the decision (`96`), a field too many is a journal read
or an HSM call the rules do not make.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from switch.core import Needs, coupon_code, needs, parse_request
from switch.core.entries import mobile_key
from switch.core.model import txn_key
from switch.core.request import Request
from switch.core.rewards import CouponNeed
from tests.money.support import Shell, rc, rrn
from tests.switch.support import (
    NOW,
    T1,
    T2,
    batch_close,
    burn,
    card,
    earn,
    example_config,
    inquiry,
    request,
    reversal,
)

A, B = card(301), card(302)
BATCH = "000001"
MAC = {64: b"\x00" * 8}
PIN_BLOCK = {52: b"\x00" * 8}
KEY, KCV = "U" + "1" * 32, "ABCDEF"


def key(msg: Message) -> str:
    """A request's key: DE41, DE11 and DE7 (docs/protocol.md §4)."""
    return txn_key(msg.text(41), msg.text(11), msg.text(7))


def need(sh: Shell, msg: Message) -> Needs:
    """What the decision of `msg` would read on the shell's state now."""
    req = parse_request(msg, sh.state.protocol)
    assert isinstance(req, Request)
    return needs(sh.state, req)


def test_a_request_whose_rows_are_in_memory_reads_nothing(sh: Shell) -> None:
    """Step 2: a batch's totals are read once, when the cache has not seen the batch; after
    that an earn, a redemption or an inquiry of a known card without a PIN reads nothing."""
    first = earn(T1, sh.next_stan(), A, 100_000)
    assert need(sh, first) == Needs(totals=(T1, BATCH))
    assert rc(sh.send(first)) == "00"
    for msg in (earn(T1, sh.next_stan(), A, 50_000),
                burn(T1, sh.next_stan(), A, 1_000, tags={"RP": "1"}),
                inquiry(T1, sh.next_stan(), A)):
        got = need(sh, msg)
        assert got == Needs() and not got.journal and not got.hsm, msg.fields[3]
    # Another terminal's batch is not in the cache yet; an inquiry counts in no batch.
    assert need(sh, earn(T2, sh.next_stan(), A, 50_000)) == Needs(totals=(T2, BATCH))
    assert need(sh, burn(T2, sh.next_stan(), A, 1_000, tags={"RP": "1"})) \
        == Needs(totals=(T2, BATCH))
    assert need(sh, inquiry(T2, sh.next_stan(), A)) == Needs()


def test_after_a_restart_a_batchs_totals_are_read_when_first_needed(sh: Shell) -> None:
    """docs/switch.md "Durability and recovery": batch totals are read per batch when first
    needed, by a counted request and by the 0500 that closes the batch."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    close = batch_close(T1, sh.next_stan(), BATCH, {74: 1, 86: 100_000})
    assert need(sh, close) == Needs()                 # the cache holds the batch
    sh.restart(NOW)
    assert need(sh, close) == Needs(totals=(T1, BATCH))
    assert need(sh, earn(T1, sh.next_stan(), A, 1)) == Needs(totals=(T1, BATCH))


def test_a_return_reads_its_committed_earn_and_never_an_uncommitted_one(sh: Shell) -> None:
    """A return reads the earn its `OR` names (the RRN is the journal id, 12 digits), unless
    that earn is still in memory; a return counts in no batch."""
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    def ret(original: str) -> Message:
        return request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=1_000,
                       tags={"OR": original})
    assert need(sh, ret(rrn(earned))) == Needs(earn=int(rrn(earned)))
    assert need(sh, ret(rrn(earned)[1:])) == Needs()          # 11 digits: refused `30`
    with sh.group_commit():
        pending = sh.send(earn(T1, sh.next_stan(), A, 100_000))
        assert need(sh, ret(rrn(pending))) == Needs()
        assert need(sh, ret(rrn(earned))) == Needs(earn=int(rrn(earned)))


def test_a_reversal_reads_its_committed_original_only(sh: Shell) -> None:
    """A reversal reads its original's row (and, the original being perhaps an earn, the
    returns against it) when the original is committed; one in memory, or one the switch never
    answered (everything of the window being in memory), is read from nothing."""
    original = earn(T1, sh.next_stan(), A, 100_000)
    jid = int(rrn(sh.send(original)))
    assert need(sh, reversal(original, sh.next_stan())) == Needs(original=jid, earn=jid)
    assert need(sh, reversal(original, sh.next_stan(), mti="0420")) \
        == Needs(original=jid, earn=jid)
    maced = reversal(original, sh.next_stan())
    maced.fields.update(MAC)
    assert need(sh, maced) == Needs(original=jid, earn=jid, mac=True)
    unknown = earn(T1, 999_999, A, 100_000)
    assert need(sh, reversal(unknown, sh.next_stan())) == Needs()
    with sh.group_commit():
        pending = earn(T1, sh.next_stan(), A, 100_000)
        sh.send(pending)
        assert need(sh, reversal(pending, sh.next_stan())) == Needs()


def test_a_retransmission_reads_its_stored_reply_once_committed(sh: Shell) -> None:
    """A retransmission (same key, same content) is answered with the stored reply, read from
    the journal once committed; in memory it is not asked for, and other content under the
    same key (`94`) reads nothing."""
    msg = earn(T1, sh.next_stan(), A, 100_000)
    jid = int(rrn(sh.send(msg)))
    assert need(sh, msg) == Needs(reply=jid)
    other = earn(T1, int(msg.text(11)), A, 100_001)
    assert need(sh, other) == Needs()
    with sh.group_commit():
        pending = earn(T1, sh.next_stan(), A, 100_000)
        sh.send(pending)
        assert need(sh, pending) == Needs()


@pytest.mark.parametrize("mti", ["0200", "0220", "0400", "0420", "0500"])
def test_a_mac_a_request_carries_is_always_verified(sh: Shell, mti: str) -> None:
    """docs/security.md "MACs": 0200, 0220, 0400, 0420 and 0500 carry their MAC in DE64 (DE128
    with a secondary bitmap) and the MAC is checked before anything else, a retransmission's
    too; 0800s are never MAC-checked."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    if mti in ("0400", "0420"):
        base = reversal(earn(T1, 999_998, A, 100_000), sh.next_stan(), mti=mti)
    elif mti == "0500":
        base = batch_close(T1, sh.next_stan(), BATCH, {})
    else:
        base = request(mti, T1, sh.next_stan(), pan=A, pc="000000", amount=1_000)
    plain = Message(mti=base.mti, fields=dict(base.fields))
    assert not need(sh, plain).mac
    fields = {**base.fields, **MAC}
    assert need(sh, Message(mti=base.mti, fields=fields)).mac
    secondary = {**base.fields, 128: b"\x00" * 8}
    assert need(sh, Message(mti=base.mti, fields=secondary)).mac
    # From a terminal the switch does not know, or at another store's DE42: the MAC alone.
    for where in ({41: "T0000099"}, {42: "STORE0000000002"}):
        stranger = {**fields, **where}
        assert need(sh, Message(mti=base.mti, fields=stranger)) == Needs(mac=True), where


def test_a_retransmissions_mac_is_verified_with_its_reply(sh: Shell) -> None:
    """docs/security.md "MACs": a replayed request verifies, and is answered with the earlier
    response; other content under its key (`94`) is MAC-checked too."""
    msg = earn(T1, sh.next_stan(), A, 100_000, extra=MAC)
    jid = int(rrn(sh.send(msg)))
    assert need(sh, msg) == Needs(reply=jid, mac=True)
    other = earn(T1, int(msg.text(11)), A, 100_001, extra=MAC)
    assert need(sh, other) == Needs(mac=True)


def test_0800s_are_not_mac_checked_and_a_key_exchange_asks_for_keys_under_a_tmk(
        sh: Shell) -> None:
    """docs/security.md "Key exchange": 0800/`101` asks the HSM for new session keys under the
    terminal's TMK (a terminal without one gets `58`, no HSM call); other 0800s and every 0800's
    MAC field ask for nothing."""
    exchange = request("0800", T1, sh.next_stan(), extra={70: "101", **MAC})
    assert need(sh, exchange) == Needs()
    sh.operator({"cmd": "set-tmk", "tid": T1, "key": KEY, "kcv": KCV})
    assert need(sh, exchange) == Needs(session_keys=True)
    assert need(sh, request("0800", T2, sh.next_stan(), extra={70: "101"})) == Needs()
    for code in ("001", "002", "301"):
        assert need(sh, request("0800", T1, sh.next_stan(), extra={70: code, **MAC})) \
            == Needs()


def test_a_spends_pin_block_is_verified_on_a_card_with_a_pin(sh: Shell) -> None:
    """docs/security.md "PINs": redemptions (`900000`) and purse purchases (`006000`) on a card
    with a PIN have their DE52 verified by the HSM; other processing codes, cards without a PIN
    and requests without DE52 ask for no PIN check."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    assert rc(sh.send(earn(T1, sh.next_stan(), B, 100_000))) == "00"
    sh.operator({"cmd": "set-pin", "pan": A, "pin": "F" * 16})

    def spend(pan: str, pc: str, extra: dict[int, bytes] | None = None) -> Message:
        return request("0200", T1, sh.next_stan(), pan=pan, pc=pc, amount=1_000,
                       tags={"RP": "1"} if pc == "900000" else None, extra=extra)

    assert need(sh, spend(A, "900000", PIN_BLOCK)) == Needs(pin=True)
    assert need(sh, spend(A, "006000", PIN_BLOCK)) == Needs(pin=True)
    assert need(sh, spend(A, "900000")) == Needs()                # no DE52: `55`, no HSM
    assert need(sh, spend(B, "900000", PIN_BLOCK)) == Needs()     # no PIN on the card
    assert need(sh, spend(A, "000000", PIN_BLOCK)) == Needs()     # an earn needs no PIN
    assert need(sh, spend(A, "310000", PIN_BLOCK)) == Needs()     # nor an inquiry
    advice = request("0220", T1, sh.next_stan(), pan=A, pc="900000", amount=1_000,
                     tags={"RP": "1"}, extra=PIN_BLOCK)
    assert need(sh, advice) == Needs()                            # an advice carries no PIN


def test_a_refused_request_reads_nothing(sh: Shell) -> None:
    """docs/switch.md step 1: a request breaking the field rules is refused `30` before
    anything is read, whatever it carries."""
    bad = earn(T1, sh.next_stan(), A, 100_000, extra={**MAC, 4: "12AB"})
    assert need(sh, bad) == Needs()
    assert rc(sh.send(bad)) == "30"



def test_out_of_memory_a_key_is_looked_up_in_the_journal(tmp_path: Path) -> None:
    """docs/switch.md "Memory": once a request of the window has left memory, a key missing
    from memory is looked up in the journal from the window's first business day on (`recall`;
    a reversal's original `recall_original`), and a 0200/0220 also reads the newest tombstone of
    its key, only while a tombstone of the window has left memory."""
    sh = Shell(tmp_path / "lps.db", cfg=example_config(tmp_path / "lps.db", replay_memory=1))
    try:
        first = earn(T1, sh.next_stan(), A, 100_000)
        assert rc(sh.send(first)) == "00"
        fresh = earn(T1, sh.next_stan(), A, 50_000)
        assert need(sh, fresh) == Needs()                    # nothing has left memory yet
        assert rc(sh.send(fresh)) == "00"                    # `first` leaves memory
        since = sh.state.remember_from
        assert since > dt.date.min
        new = earn(T1, sh.next_stan(), A, 50_000)
        assert need(sh, new) == Needs(recall=key(new), recall_since=since)
        assert need(sh, first) == Needs(recall=key(first), recall_since=since)
        undo = reversal(first, sh.next_stan())
        assert need(sh, undo) == Needs(recall=key(undo), recall_original=key(first),
                                       recall_since=since)
        undo.fields.update(MAC)
        assert need(sh, undo) == Needs(recall=key(undo), recall_original=key(first),
                                       recall_since=since, mac=True)
        # A reversal of a request never seen leaves a tombstone; the next request pushes it
        # out of memory, and from then on a new 0200 or 0220 reads tombstones too.
        never = earn(T1, 999_997, A, 100_000)
        assert rc(sh.send(reversal(never, sh.next_stan()))) == "25"
        assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000))) == "00"
        assert need(sh, never) == Needs(recall=key(never), recall_since=since,
                                        recall_tombstone=True)
        advice = request("0220", T1, sh.next_stan(), pan=A, pc="000000", amount=1_000)
        assert need(sh, advice) == Needs(recall=key(advice), recall_since=since,
                                         recall_tombstone=True)
        undo = reversal(first, sh.next_stan())
        assert need(sh, undo) == Needs(recall=key(undo), recall_original=key(first),
                                       recall_since=since)
        # By mobile number: the account is read with the recall (docs/customers.md).
        by_mobile = request("0200", T1, sh.next_stan(), pc="000000", amount=50_000,
                            tags={"MB": "09121234567"})
        assert rc(sh.send(by_mobile)) == "00"
        assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000))) == "00"    # it leaves memory
        named = OriginalData("0200", by_mobile.text(11), by_mobile.text(7))
        undo = request("0400", T1, sh.next_stan(), pc="000000", amount=50_000, batch=None,
                       tags={"MB": "09121234567"}, extra={90: build_de90(named)})
        assert need(sh, undo) == Needs(recall=key(undo), recall_original=key(by_mobile),
                                       recall_since=since,
                                       account=mobile_key("tehran-mall", "989121234567"))
        assert rc(sh.send(undo)) == "00"
        with sh.group_commit():                 # an original not committed is in memory
            pending = earn(T1, sh.next_stan(), A, 1_000)
            assert rc(sh.send(pending)) == "00"
            undo = reversal(pending, sh.next_stan())
            assert need(sh, undo) == Needs(recall=key(undo), recall_since=since,
                                           recall_tombstone=False)
            assert rc(sh.send(undo)) == "00"
    finally:
        sh.close()


def test_a_mobile_number_reads_its_account_unless_its_card_is_in_memory(sh: Shell) -> None:
    """docs/customers.md "Mobile numbers at the POS": DE48 `MB` names the account of that number
    in the terminal's coalition, read from the journal (`Needs.account`); a virtual card made
    by a request not committed yet is in memory, and is not asked for."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000))) == "00"     # the batch is cached
    account = mobile_key("tehran-mall", "989121234567")

    def by_mobile(pc: str) -> Message:
        return request("0200", T1, sh.next_stan(), pc=pc, amount=50_000,
                       tags={"MB": "09121234567", **({"RP": "1"} if pc == "900000" else {})})

    for pc in ("000000", "900000", "310000"):
        assert need(sh, by_mobile(pc)) == Needs(account=account), pc
    with sh.group_commit():
        assert rc(sh.send(by_mobile("000000"))) == "00"                 # makes its card
        for pc in ("000000", "900000", "310000"):
            assert need(sh, by_mobile(pc)) == Needs(), pc
    assert need(sh, by_mobile("000000")) == Needs(account=account)
    # A reversal carrying the same MB reads the account with its original (or alone).
    def undo(original: Message) -> Message:
        named = OriginalData(original.mti, original.text(11), original.text(7))
        return request("0400", T1, sh.next_stan(), pc="000000", amount=50_000, batch=None,
                       tags={"MB": "09121234567"}, extra={90: build_de90(named)})

    original = by_mobile("000000")
    jid = int(rrn(sh.send(original)))
    assert need(sh, undo(original)) == Needs(original=jid, earn=jid, account=account)
    assert need(sh, undo(by_mobile("000000"))) == Needs(account=account)


def test_only_a_redemption_reads_the_coupon_it_carries(sh: Shell) -> None:
    """docs/protocol.md §3: `CP` is the coupon a `900000` redeems; the coupon is read for that
    redemption (`Needs.coupon`) and for no other processing code that carries the tag."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000))) == "00"     # the batch is cached
    code = coupon_code.new_code(lambda n: 7 % n)
    wanted = CouponNeed(coupon_code.digest(code), A)
    redeem = request("0200", T1, sh.next_stan(), pan=A, pc="900000", amount=5_000,
                     tags={"CP": code})
    assert need(sh, redeem) == Needs(coupon=wanted)
    for pc in ("000000", "310000"):
        carrying = request("0200", T1, sh.next_stan(), pan=A, pc=pc, amount=5_000,
                           tags={"CP": code})
        assert need(sh, carrying) == Needs(), pc
