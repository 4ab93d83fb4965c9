"""Returns against an earn while other decisions naming it are not committed yet.

A return may take back at most what is left of its earn: the earn's amount less the returns
standing against it, reversed ones not counted (docs/switch.md, Return `200000`; docs/protocol.md
§4). Decisions are applied in memory before the next is decided and committed later in one
group (docs/switch.md "The request path"), so what stands against an earn is also in memory:
declined decisions there name originals too, and only approved reversals undo anything. Every
figure below is worked out by hand from those rules (an earn of 100,000 IRR is 10 points).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from iso8583 import Message
from switch.core import DEFAULT_LIMITS
from tests.money.support import Shell, rc, rrn, tags
from tests.switch.support import NOW, T1, burn, card, earn, request, reversal

A = card(311)


def ret(sh: Shell, amount: int, earned: Message) -> Message:
    msg = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=amount,
                  tags={"OR": rrn(earned)})
    return sh.send(msg)


def test_a_late_originals_decline_in_the_same_commit_hides_no_return(tmp_path: Path) -> None:
    """docs/protocol.md §4: a late original after its reversal is `05` with no effect. Decided
    in the same group commit as two returns of one earn, it leaves the first return standing:
    40,000 returned of 100,000, a further 70,000 is `13`."""
    sh = Shell(tmp_path / "lps.db")
    try:
        earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))
        assert rc(earned) == "00"
        late = earn(T1, 999_990, A, 5_000)
        with sh.group_commit():
            assert rc(sh.send(reversal(late, sh.next_stan()))) == "25"
            assert rc(sh.send(late)) == "05"
            first = ret(sh, 40_000, earned)
            assert (rc(first), tags(first)["RD"]) == ("00", "4")
            assert rc(ret(sh, 70_000, earned)) == "13"
        assert rc(ret(sh, 60_000, earned)) == "00"
    finally:
        sh.close()


def test_a_declined_reversal_of_a_return_leaves_the_return_standing(tmp_path: Path) -> None:
    """docs/protocol.md §10: a reversal that would take a card past a limit is `61` and undoes
    nothing. The points limit lowered to 9 at a restart: a card holding 9 after a return of
    50,000 (5 points back) cannot take those 5 again, so the reversal of the return is `61`,
    and the return still stands in the same group commit: 60,000 more is `13`."""
    sh = Shell(tmp_path / "lps.db")
    try:
        earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))              # 10 points
        first = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=50_000,
                        tags={"OR": rrn(earned)})
        assert tags(sh.send(first))["RD"] == "5"                            # 5 left
        assert rc(sh.send(earn(T1, sh.next_stan(), A, 40_000))) == "00"     # 9
        sh.restart(NOW, limits=dataclasses.replace(DEFAULT_LIMITS, max_points=9))
        with sh.group_commit():
            assert rc(sh.send(reversal(first, sh.next_stan()))) == "61"
            assert rc(ret(sh, 60_000, earned)) == "13"
            assert rc(ret(sh, 50_000, earned)) == "00"                      # the rest
        assert rc(sh.send(burn(T1, sh.next_stan(), A, 5_000, tags={"RP": "5"}))) == "51"
    finally:
        sh.close()


def test_approved_reversals_in_the_same_commit_undo_a_return_and_an_earn(
        tmp_path: Path) -> None:
    """docs/switch.md, Return and Reversal: a reversed return no longer counts, so the whole
    amount can be returned afterwards; a reversed earn can be returned no more (`25`). Both
    hold while the reversals are not committed yet."""
    sh = Shell(tmp_path / "lps.db")
    try:
        earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))
        with sh.group_commit():
            partial = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=40_000,
                              tags={"OR": rrn(earned)})
            assert tags(sh.send(partial))["RD"] == "4"
            assert rc(sh.send(reversal(partial, sh.next_stan()))) == "00"
            full = ret(sh, 100_000, earned)
            assert (rc(full), tags(full)["RD"]) == ("00", "10")
        second = earn(T1, sh.next_stan(), A, 100_000)
        again = sh.send(second)
        with sh.group_commit():
            assert rc(sh.send(reversal(second, sh.next_stan()))) == "00"
            assert rc(ret(sh, 1_000, again)) == "25"
    finally:
        sh.close()
