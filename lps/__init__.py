"""The apps on top of LPS: the `lps` command, the operators' console and the demo.

They import the packages below them (switch, settlement, hsm_sim, iso8583, terminal_agent) and
nothing imports them (docs/architecture.md).
"""
