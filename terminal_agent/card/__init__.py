"""Loyalty card sources: PC/SC smart card (docs/protocol.md §9) and serial barcode scanner."""
