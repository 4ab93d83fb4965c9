"""`make demo` (`python -m lps.demo`): the whole system on the example configuration.

In order, each step a short section: 1. the programs (tiers, birthday bonus, stamps, receipt
text), 2. MACs (a terminal keyed with `lps keys new-terminal`, key exchange, MACed traffic, a
tampered message declined 63), 3. traffic of three stores over both wire profiles (earns,
cross-store burns, reversals, retransmissions, stored value, batch close), 4. the settlement
of the day (positions, obligations, netting, report.html), 5. the terminal agent with a virtual
card in pcscd's vpcd reader and a cash register on a pty. Everything runs against one real
switch in a temporary directory; see __main__.py for the options.
"""
