"""Property: every burn draws exactly the lots a reference model written from the docs draws.

The model is independent of the code under test: it never calls `Lot.burn_key` or a
`RuleBook.burn_order`, and computes each earn's lots from the formula in docs/programs.md
("The earn, step by step") and each burn's draws from docs/switch.md ("Decisions", Redeem):
usable lots (positive, not yet at their `expires_on`), soonest expiry first, then oldest earn
date, then lowest lot ID. The switch runs the programs (campaign lots with their own expiry,
some expiring sooner and some later than the earns before them) on a real SQLite journal, with
restarts, and the draws are read back from `lot_moves`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switch.core.programs.rules import program_rules
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.programs.support import config_with
from tests.switch.support import NOW, T1, T2, T3, burn, card, earn

PAN = card(401)
S1, S2, S3 = "STORE0000000001", "STORE0000000002", "STORE0000000003"
EXPIRE_DAYS = 365
#: Per terminal: (store, points_per, points, min_amount, campaign bonus, its own expiry days),
#: from examples/lps.toml plus the campaigns `_config` adds.
EARN_RULES = {
    T1: (S1, 10_000, 1, 0, 0, None),
    T2: (S2, 10_000, 2, 100_000, 7, 20),
    T3: (S3, 20_000, 1, 0, 3, 500),
}


def _config() -> Any:
    def change(data: dict[str, Any]) -> None:
        for tid in (T2, T3):
            store, _, _, _, bonus, days = EARN_RULES[tid]
            data["store"][store]["campaigns"] = [
                {"name": f"own-expiry-{days}", "from": "2026-01-01", "to": "2029-12-31",
                 "bonus": bonus, "expire_after_days": days}]
    return config_with(change)


CONFIG = _config()


@dataclass
class ModelLot:
    id: int
    earned: dt.date
    expires: dt.date
    remaining: int


def expected_lots(tid: str, amount: int, day: dt.date) -> list[tuple[int, dt.date]]:
    """(points, expires_on) of the lots an earn makes (docs/programs.md, steps 1-4)."""
    _, per, points, minimum, bonus, days = EARN_RULES[tid]
    if amount < minimum:
        return []
    made = [(amount // per * points, day + dt.timedelta(days=EXPIRE_DAYS))]
    if bonus and days is not None:
        made.append((bonus, day + dt.timedelta(days=days)))
    return [(p, exp) for p, exp in made if p > 0]


def expected_draws(lots: dict[int, ModelLot], day: dt.date, need: int) -> list[tuple[int, int]]:
    usable = [lot for lot in lots.values() if lot.remaining > 0 and lot.expires > day]
    usable.sort(key=lambda lot: (lot.expires, lot.earned, lot.id))
    draws = []
    for lot in usable:
        if need == 0:
            break
        take = min(need, lot.remaining)
        draws.append((lot.id, -take))
        need -= take
    return draws


event = st.one_of(
    st.tuples(st.just("earn"), st.sampled_from([T1, T2, T3]),
              st.integers(0, 1_000_000), st.integers(0, 30)),
    st.tuples(st.just("burn"), st.sampled_from([T1, T2, T3]),
              st.integers(1, 150), st.integers(0, 30)),
    st.tuples(st.just("restart"), st.just(T1), st.just(0), st.integers(0, 30)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=25))
def test_burns_draw_the_lots_the_reference_model_draws(events: list[tuple[str, str, int, int]]
                                                       ) -> None:
    with scratch_dir() as path:
        sh = Shell(path / "lps.db", CONFIG, program_rules(CONFIG))
        model: dict[int, ModelLot] = {}
        offset = 0
        try:
            for kind, tid, value, advance in events:
                offset += advance
                now = NOW + dt.timedelta(days=offset)
                day = now.date()        # 13:30 in Tehran: before the cutover
                if kind == "restart":
                    sh.restart(now)
                    continue
                if kind == "earn":
                    resp = sh.send(earn(tid, sh.next_stan(), PAN, value, now=now), now)
                    if value == 0:
                        assert rc(resp) == "13"
                        continue
                    assert rc(resp) == "00"
                    made = {lot_id: delta for lot_id, delta in sh.moves(rrn(resp))}
                    lots = sh.lots(PAN)
                    got = sorted((made[i], lots[i][1]) for i in made)
                    want = sorted((p, str(exp)) for p, exp in expected_lots(tid, value, day))
                    assert got == want
                    for lot_id in made:
                        model[lot_id] = ModelLot(lot_id, day, dt.date.fromisoformat(
                            str(lots[lot_id][1])), made[lot_id])
                    continue
                resp = sh.send(burn(tid, sh.next_stan(), PAN, value * 1_000,
                                    tags={"RP": str(value)}, now=now), now)
                available = sum(lot.remaining for lot in model.values()
                                if lot.remaining < 0 or lot.expires > day)
                if available < value:
                    assert rc(resp) == "51"
                    assert sh.moves(rrn(resp)) == []
                    continue
                assert rc(resp) == "00"
                want_draws = expected_draws(model, day, value)
                assert sh.moves(rrn(resp)) == want_draws
                for lot_id, delta in want_draws:
                    model[lot_id].remaining += delta
            stored = {i: lot[3] for i, lot in sh.lots(PAN).items()}
            assert stored == {i: lot.remaining for i, lot in model.items()}
        finally:
            sh.close()
