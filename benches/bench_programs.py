"""Programs benchmark: the decision cost of one earn with 50 campaigns and tiers active.

    .venv/bin/pytest benches/bench_programs.py --benchmark-only

The switch's per-message budget is 200 µs (its capacity target of 5,000 answers/s on the
2-core machine, benches/README.md; 100 µs at the 10,000/s aim). The programs' rules may take a
fifth of it: 40 µs (20 µs at the aim). `test_rules_earn` times `ProgramRules.earn` +
`reply_tags` alone (what the programs add to a decision); `test_decision_earn_*` time the
whole `core.handle` of an earn with the programs and with the base rules, whose difference is
the same cost seen from outside.
Each card has a spend history of 120 business days, a profile, stamps and a daily cap running.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switch.config import parse_config
from switch.core import EarnContext, handle, new_state
from switch.core.programs.club import Club, Profile
from switch.core.programs.rules import program_rules
from switch.core.rules import BaseRules
from tests.programs.support import C1, example_data
from tests.switch.support import NOW, T1, card, earn, sign_on

CARDS = 2000
BUDGET_US = 200.0        # per message: the capacity target of 5,000 answers/s
RULES_SHARE = 0.2        # the programs' rules may take a fifth of it


def config_50() -> Any:
    data = copy.deepcopy(example_data())
    co = data["coalition"]["tehran-mall"]
    co["daily_earn_cap"] = 100_000
    co["campaigns"] = []
    cafe = data["store"][C1]
    cafe["campaigns"] = []
    for i in range(50):
        running = i % 2 == 0      # half run now (2026-11-23, a Monday, 13:30 in Tehran)
        c: dict[str, Any] = {
            "name": f"c{i}",
            "from": "2026-11-01" if running else "2027-01-01",
            "to": "2026-11-30" if running else "2027-01-31",
            "multiplier": 1 + (i % 7) / 4, "bonus": i % 5,
        }
        if i % 3 == 0:
            c["weekdays"] = [0, 1, 2, 3, 4]
        if i % 4 == 0:
            c["hours"] = [8, 22]
        if i % 10 == 0:
            c["expire_after_days"] = 90
        (co["campaigns"] if i < 25 else cafe["campaigns"]).append(c)
    return parse_config(data, "bench.toml")


def _state(rules: Any) -> Any:
    cfg = config_50()
    state = new_state(cfg, rules(cfg) if rules is not None else BaseRules())
    handle(state, sign_on(T1), NOW)
    for i in range(CARDS):
        handle(state, earn(T1, i + 1, card(i), 1_000_000), NOW)
        c = state.cards[card(i)]
        if c.club is None:
            c.club = Club()
        c.club.profile = Profile("x", "", dt.date(1990, 5, 1))
        for d in range(120):
            day = dt.date(2026, 11, 22) - dt.timedelta(days=3 * d)
            c.club.spend[day] = c.club.spend.get(day, 0) + 400_000
    return state


def test_rules_earn(benchmark: Any) -> None:
    """`earn` + `reply_tags` of `ProgramRules` alone: the programs' share of a decision."""
    state = _state(program_rules)
    rules = state.rules
    cfg = state.config
    store, co = cfg.stores[C1], cfg.coalitions["tehran-mall"]
    day = dt.date(2026, 11, 23)
    cards = [state.cards[card(i)] for i in range(CARDS)]
    it = iter(range(10**9))
    active = sum(1 for c in (*co.campaigns, *store.campaigns) if c.start <= day <= c.end)

    def one() -> None:
        c = cards[next(it) % CARDS]
        result = rules.earn(EarnContext(store, co, c, 1_500_000, NOW, day))
        rules.reply_tags(store, co, c, day, "earn", {"EP": str(result.points), **result.tags})

    gc.freeze()
    benchmark.pedantic(one, rounds=50_000, iterations=1)
    median_us = benchmark.stats.stats.median * 1e6
    benchmark.extra_info.update({
        "campaigns": len(co.campaigns) + len(store.campaigns), "campaigns_in_dates": active,
        "tiers": len(co.tiers), "median_us": round(median_us, 2),
        "budget_us": BUDGET_US * RULES_SHARE,
        "share_of_message_budget": round(median_us / BUDGET_US, 3),
    })
    print(f"\nProgramRules earn+receipt: median {median_us:.1f} µs = "
          f"{median_us / BUDGET_US:.1%} of the {BUDGET_US:.0f} µs message budget "
          f"(allowed {RULES_SHARE:.0%}: {BUDGET_US * RULES_SHARE:.0f} µs)")


def _decision(benchmark: Any, rules: Any) -> None:
    state = _state(rules)
    msgs = iter([earn(T1, 100_000 + i, card(i % CARDS), 150_000) for i in range(400_000)])
    gc.freeze()
    benchmark.pedantic(lambda: handle(state, next(msgs), NOW), rounds=50_000, iterations=1)
    benchmark.extra_info["median_us"] = round(benchmark.stats.stats.median * 1e6, 2)


def test_decision_earn_programs(benchmark: Any) -> None:
    """One earn through `core.handle` with the programs (50 campaigns, tiers, cap, stamps)."""
    _decision(benchmark, program_rules)


def test_decision_earn_base_rules(benchmark: Any) -> None:
    """The same earn with the base rules, for the difference."""
    _decision(benchmark, None)
