"""Asterisk's side of a FastAGI session (sip_test_harness/agi_wire.py, shared with the
AGI benchmark)."""

from sip_test_harness.agi_wire import Session, agi_call, header

__all__ = ["Session", "agi_call", "header"]
