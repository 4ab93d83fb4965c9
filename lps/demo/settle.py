"""Step 4 of the demo: the real settlement of the demo's business day.

It runs what `lps settle` runs (lps.settle_cli._settle: read the journal, net, reconcile,
render, seal in the register) with one difference: `lps settle` refuses a business day before
its cutover, and the demo settles the day it has just traded, which is still open. The journal
is read as a read-only snapshot, so the switch keeps running (the agent step follows).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from settlement import render
from settlement.day import DayBook, stores_from_config
from settlement.journal import BATCH_LOOKBACK_DAYS, Journal, settle_journal
from settlement.progress import Bar
from settlement.seal import Register, default_register
from settlement.summary import summary
from switch.config import Config
from switch.core.calendar import business_day


def run_settlement(config: Config, out: Path) -> tuple[bool, Path]:
    """Settle today's business day into `out/<day>`; (all batches in balance, report.html)."""
    started = time.monotonic()
    cfg = config.switch
    now = dt.datetime.now(dt.UTC)
    day = business_day(now, cfg.zone, cfg.business_day_cutover)
    print(f"business day {day} ({cfg.timezone}, cutover {cfg.business_day_cutover:%H:%M}), "
          "settled before its cutover because it is the demo's day")
    journal = Journal(cfg.database)
    try:
        with journal:
            bar = Bar(journal.day_size(day), f"settling {day}", enabled=False)
            result = settle_journal(journal, DayBook(day, stores_from_config(config)), bar,
                                    lookback=BATCH_LOOKBACK_DAYS, workers=0,
                                    coalitions=config.coalitions)
            bar.finish()
    finally:
        journal.close()
    files = render.render(result)
    register = Register(default_register(cfg.database))
    try:
        outcome = register.seal(day.isoformat(), result.inputs_digest, files, out,
                                now.isoformat(timespec="seconds"), True)
    finally:
        register.close()
    status = {"first": "sealed", "identical": "identical to the sealed run",
              "reopened": "reopened and sealed again"}[outcome.status]
    print(summary(result, status, str(outcome.out), time.monotonic() - started))
    report = outcome.out / render.REPORT
    print(f"report: {report}")
    balanced = all(r.balanced for r in result.reconciliation)
    return balanced, report
