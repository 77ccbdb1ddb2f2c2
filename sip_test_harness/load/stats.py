"""What the SIPp logs of a load run say: per call, setup, ringing, answer, outcome.

Callers log ``<call_id> <from user>`` (``-trace_logs``) and operators log
``INVITE <call_id> <From header>``; joined with the short-message traces they give,
per caller number, the INVITE time, the first 200 OK (setup), the first INVITE to an
operator's phone (ringing) and the first operator answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sip_test_harness.sipp_logs import SipMessage, read_shortmsg

_FROM_USER = re.compile(r"sip:([^@;>]+)@")


@dataclass
class CallerCall:
    """One call placed by a caller stream, as its SIPp saw it."""

    stream: str
    number: str
    invite_at: float | None = None
    answered_at: float | None = None  # 200 OK to the INVITE
    final_status: int | None = None
    cancelled: bool = False  # the caller sent CANCEL
    ring_at: float | None = None  # first INVITE to an operator's phone
    operator_answer_at: float | None = None  # first 200 OK from an operator's phone

    @property
    def setup_ms(self) -> float | None:
        if self.invite_at is None or self.answered_at is None:
            return None
        return (self.answered_at - self.invite_at) * 1000

    @property
    def ring_ms(self) -> float | None:
        if self.invite_at is None or self.ring_at is None:
            return None
        return (self.ring_at - self.invite_at) * 1000

    def failed(self, abandon_stream: bool) -> bool:
        """A SIP-level failure: no final answer, an error response, or a timeout CANCEL."""
        if self.invite_at is None or self.final_status is None:
            return True
        if self.cancelled:
            return not abandon_stream or self.final_status != 487
        return self.final_status >= 300


def read_log_pairs(path: Path) -> list[tuple[str, str]]:
    """``(call_id, rest)`` of each line of a SIPp ``-trace_logs`` file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    pairs = []
    for line in text.splitlines():
        parts = line.split(" ", 1)
        if line.startswith("INVITE "):
            parts = line[len("INVITE ") :].split(" ", 1)
        if len(parts) == 2:
            pairs.append((parts[0], parts[1].strip()))
    return pairs


def caller_calls(stream: str, messages: Iterable[SipMessage], log: Path) -> list[CallerCall]:
    """Calls of one caller SIPp from its short-message trace and its log file."""
    numbers = dict(read_log_pairs(log))
    calls: dict[str, CallerCall] = {}
    for msg in messages:
        if msg.cseq_method not in ("INVITE", "CANCEL"):
            continue
        call = calls.setdefault(msg.call_id, CallerCall(stream, numbers.get(msg.call_id, "")))
        if msg.sent and msg.method == "INVITE" and call.invite_at is None:
            call.invite_at = msg.at
        elif msg.sent and msg.method == "CANCEL":
            call.cancelled = True
        elif not msg.sent and msg.cseq_method == "INVITE" and (msg.status or 0) >= 200:
            if call.final_status is None:
                call.final_status = msg.status
            if msg.status == 200 and call.answered_at is None:
                call.answered_at = msg.at
    return list(calls.values())


def number_key(text: str) -> str:
    """Compare numbers by their last 10 digits (the PBX may add a + or a country code)."""
    match = _FROM_USER.search(text)
    user = match.group(1) if match else text
    digits = "".join(ch for ch in user if ch.isdigit())
    return digits[-10:] if digits else user


@dataclass
class OperatorSide:
    """Per caller number: first ring and first answer on any load operator phone."""

    ring_at: dict[str, float] = field(default_factory=dict)
    answer_at: dict[str, float] = field(default_factory=dict)
    invites: int = 0
    answered: int = 0
    # operator legs (call ids) answered for callers without a usable number (anonymous):
    # one key cannot tell those callers apart
    anonymous_answered: set[str] = field(default_factory=set)


def operator_side(messages: Sequence[SipMessage], log: Path) -> OperatorSide:
    """Join the operators' INVITE log lines with their short-message trace."""
    caller_of = {call_id: number_key(rest) for call_id, rest in read_log_pairs(log)}
    side = OperatorSide()
    for msg in messages:
        key = caller_of.get(msg.call_id)
        if key is None or msg.cseq_method != "INVITE":
            continue
        if not msg.sent and msg.method == "INVITE":
            side.invites += 1
            side.ring_at.setdefault(key, msg.at)
        elif msg.sent and msg.status == 200:
            side.answered += 1
            side.answer_at.setdefault(key, msg.at)
            if not key.isdigit():
                side.anonymous_answered.add(msg.call_id)
    return side


def attach_operator_side(calls: Iterable[CallerCall], side: OperatorSide) -> None:
    """Fill ``ring_at``/``operator_answer_at`` of calls with a correlatable number."""
    for call in calls:
        key = number_key(call.number)
        if not key or not key.isdigit():
            continue
        call.ring_at = side.ring_at.get(key)
        call.operator_answer_at = side.answer_at.get(key)


def percentiles(values: Iterable[float | None]) -> dict[str, float | None]:
    """p50/p90/p99 (nearest rank), in the values' unit, rounded to 0.1."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return {"p50": None, "p90": None, "p99": None}

    def rank(q: float) -> float:
        return round(data[min(len(data) - 1, max(0, int(q * len(data) + 0.5) - 1))], 1)

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99)}


def read_messages(path: Path) -> list[SipMessage]:
    """The short-message trace of one SIPp (absent file: none)."""
    return read_shortmsg(path)
