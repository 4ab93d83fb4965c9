"""Loyalty card sources: PC/SC smart card (PROTOCOL.md §9) and serial barcode scanner."""
