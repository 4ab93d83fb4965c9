"""The till rewards reached by a financial request (docs/protocol.md §4, `940000` and `950000`;
docs/programs.md "Discounts at the till", "Paid memberships"): a membership sold at its price,
then its tier's perk taken off a purchase at a store that opts in.

The example configuration (examples/lps.toml): `gold` is sold at 10,000,000 IRR and gives the
tier GOLD, whose perk is 10 % at STORE0000000001 (`tier_perk = true`); so a purchase of
1,000,000 IRR there has 100,000 IRR off, all of it the tier perk (`DB` `TP=`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from switch.core.programs.rules import program_rules
from tests.money.support import Shell, rc, tags
from tests.switch.support import NOW, T1, card, example_config, request


@pytest.mark.parametrize("restart", [False, True], ids=["live", "after-a-restart"])
def test_a_membership_sold_then_its_tier_perk_taken_off_a_purchase(tmp_path: Path,
                                                                   restart: bool) -> None:
    """The membership is the card's club row in the journal (its tier and its end, migration
    13), so a restart between the sale and the purchase reads it back: the recovered state
    equals the live one (`Shell.restart`), and the perk is taken off as before."""
    cfg = example_config(tmp_path / "lps.db")
    sh = Shell(tmp_path / "lps.db", cfg, program_rules(cfg))
    try:
        pan = card(871)
        sold = sh.send(request("0200", T1, sh.next_stan(), pan=pan, pc="950000",
                               amount=10_000_000, tags={"ML": "gold"}))
        assert rc(sold) == "00" and tags(sold)["TR"] == "GOLD"
        if restart:
            sh.restart(NOW)
        off = sh.send(request("0200", T1, sh.next_stan(), pan=pan, pc="940000",
                              amount=1_000_000))
        assert rc(off) == "00"
        assert (tags(off)["CD"], tags(off)["DB"]) == ("100000", "TP=100000")
    finally:
        sh.close()
