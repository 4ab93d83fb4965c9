"""Moved to terminal_agent/testing/vicc.py; kept for benches/bench_agent.py's import."""

from terminal_agent.testing.vicc import AID, ATR_CONTACT, ATR_CONTACTLESS, VirtualLoyaltyCard

__all__ = ["AID", "ATR_CONTACT", "ATR_CONTACTLESS", "VirtualLoyaltyCard"]
