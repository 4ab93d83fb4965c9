"""The switch's refusals of a card replacement (switch/core/card_replace.py), made by its own
code, reach a Persian reader in Persian (lps/console/switch_words.py), and the customer's
history is told in the catalogue's words."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lps.console import desk, switch_words
from lps.console.i18n import Translator
from lps.console.messages import Refusal
from switch.core import AdminError
from switch.core.card_replace import decide_replace
from switch.core.state import State
from switch.i18n import TEHRAN
from switch.journal.customers import HistoryRow
from switch.journal.rows import JournalRow
from tests.money.support import Shell, scratch_dir
from tests.switch.support import NOW, T1, card, earn

FA = Translator("fa", TEHRAN)
LATIN = re.compile(r"[A-Za-z]")
FSI_VALUE = re.compile("\u2068[^\u2069]*\u2069")
OLD, NEW, USED = card(731), card(732), card(733)


def _persian_only(refusal: Refusal) -> str:
    text = refusal.render(FA)
    assert not LATIN.search(FSI_VALUE.sub("", text)), text
    return text


@pytest.fixture(scope="module")
def state() -> Iterator[State]:
    with scratch_dir() as path:
        sh = Shell(Path(path) / "lps.db")
        for n, pan in enumerate((OLD, USED)):
            sh.send(earn(T1, 100 + n, pan, 100_000))
        yield sh.state
        sh.close()


def _luhn(body: str) -> str:
    from switch.core.luhn import luhn_ok

    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def test_every_refusal_of_a_replacement_is_said_in_persian(state: State) -> None:
    virtual = dataclasses.replace(state.cards[OLD], virtual=True)
    owing = dataclasses.replace(state.cards[OLD], lots=[
        dataclasses.replace(state.cards[OLD].lots[0], remaining=-3)])
    cases = [
        (OLD, OLD, None),
        (OLD, USED, None),
        (OLD, "6280000000000000", None),
        (OLD, "12345", None),
        (card(734), NEW, None),
        (OLD, _luhn("411111000000000"), None),
        (OLD, _luhn("639000000000000"), None),
        (OLD, NEW, virtual),
        (OLD, NEW, owing),
    ]
    said = set()
    for old, new, swap in cases:
        was = state.cards[OLD]
        if swap is not None:
            state.cards[OLD] = swap
        try:
            with pytest.raises(AdminError) as err:
                decide_replace(state, old, new, "lost", "staff:x", NOW)
        finally:
            state.cards[OLD] = was
        refusal = switch_words.admin(str(err.value))
        said.add(refusal.template)
        _persian_only(refusal)
    assert len(said) == len(cases), "\n".join(sorted(said))


def test_the_history_is_in_the_catalogues_words() -> None:
    rows = [JournalRow(1, NOW.date(), kind, response_code=rc, original_kind=orig, points=5)
            for kind, rc, orig in (("earn", "00", ""), ("redeem", "00", ""),
                                   ("redeem", "51", ""), ("reversal", "00", "earn"),
                                   ("card_admin", "00", ""), ("topup", "00", ""),
                                   ("inquiry", "00", ""), ("batch_close", "00", ""))]
    actions = ["", "", "", "", "replace", "", "", ""]
    for row, action in zip(rows, actions, strict=True):
        text = _persian_only(desk.in_words(HistoryRow(row, action)))
        assert text
    for action in ("enroll", "block", "unblock", "adjust", "replace", "replaced", "set",
                   "reset", "purse_credit", "other"):
        _persian_only(desk.in_words(HistoryRow(rows[4], action)))
    # The win-back's gift credit is told as such, not as a change of the card.
    credit = desk.in_words(HistoryRow(rows[4], "purse_credit"))
    assert credit.template != desk.in_words(HistoryRow(rows[4], "other")).template
    assert "هدیه" in credit.render(FA)
