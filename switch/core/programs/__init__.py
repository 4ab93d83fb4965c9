"""Loyalty programs (docs/programs.md): tiers, campaigns, caps, birthdays, stamps, receipts, draws.

Pure like the rest of `switch.core`: no I/O and no clock (every function takes `now`/`day`).
`ProgramRules` (in `switch.core.programs.rules`) is the `RuleBook` the switch runs; `club` holds
the per-card state the programs keep and the effects that change it. See docs/programs.md.
Nothing is imported here so that `switch.core.rules` can import `club` without a cycle.
"""
