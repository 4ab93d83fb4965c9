"""Test and demo aids that ship with the agent: a virtual loyalty card for pcscd's vpcd driver.

Not used by the agent itself; the tests, the benches and `make demo` insert it into a virtual
reader so that the real PC/SC path (pcscd, pyscard, APDUs) runs without a physical card.
"""
