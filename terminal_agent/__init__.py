"""LPS terminal agent: cash register, card reader, switch link and MQTT fleet management."""

__version__ = "0.1.0"
