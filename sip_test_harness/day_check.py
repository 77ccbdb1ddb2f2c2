"""What SIPp saw of the generated day, and how it agrees with the router's report.

Pure: SIPp's short-message traces and log lines in, counts and verdicts out.

- A caller's call is **answered** when an operator's phone answered a leg from that
  number while the call was up (callbacks ring the operator with the patient's number
  too, but after the call ended). Every call of the day has its own number.
- **Abandoned**: not answered, and the caller hung up (BYE or CANCEL).
- **Ended by the clinic**: not answered, and the far end hung up (nobody free until the
  queue's max wait, "call me back" promised).
- A **miss** is a call not answered; every one with a number must have been dialled back
  (an INVITE to the patients' phone for that number).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sip_test_harness.load.stats import number_key
from sip_test_harness.sipp_logs import SipMessage

# The report against SIPp: the larger of this share of the calls placed and MIN_TOLERANCE
# calls. The edge that moves a call between "answered" and "abandoned" is a caller who
# hangs up just as an operator answers: SIPp and the router see the two on either side.
TOLERANCE_SHARE, MIN_TOLERANCE = 0.01, 2


@dataclass
class SeenCall:
    """One caller's call as the caller's SIPp saw it."""

    call_id: str
    number: str
    invite_at: float | None = None
    pbx_answer_at: float | None = None  # the clinic's 200 OK (the router answers at once)
    ended_at: float | None = None
    caller_hung_up: bool = False  # sent BYE or CANCEL
    far_hung_up: bool = False  # got a BYE
    operator_answered: bool = False


@dataclass
class SippDay:
    """The day's counts from SIPp's side."""

    placed: int
    answered: int
    abandoned: int
    ended_by_clinic: int
    failed: int  # no answer at all from the PBX, or an error response
    missed_numbers: set[str] = field(default_factory=set)  # not answered
    dialled_back: set[str] = field(default_factory=set)  # numbers the patients' phone got
    patients_answered: set[str] = field(default_factory=set)

    @property
    def misses(self) -> int:
        return len(self.missed_numbers)


def caller_calls(
    messages: Iterable[SipMessage], log_pairs: Sequence[tuple[str, str]]
) -> list[SeenCall]:
    """Per call id: the INVITE sent, the PBX's answer, who hung up, the last message."""
    numbers = dict(log_pairs)
    calls: dict[str, SeenCall] = {}
    for msg in messages:
        call = calls.setdefault(msg.call_id, SeenCall(msg.call_id, numbers.get(msg.call_id, "")))
        call.ended_at = msg.at
        if msg.sent and msg.method == "INVITE" and call.invite_at is None:
            call.invite_at = msg.at
        elif msg.sent and msg.method in ("BYE", "CANCEL"):
            call.caller_hung_up = True
        elif not msg.sent and msg.method == "BYE":
            call.far_hung_up = not call.caller_hung_up
        elif not msg.sent and msg.cseq_method == "INVITE" and msg.status == 200:
            call.pbx_answer_at = call.pbx_answer_at or msg.at
    return [c for c in calls.values() if c.invite_at is not None]


def operator_answers(
    messages: Iterable[SipMessage], log_pairs: Sequence[tuple[str, str]]
) -> list[tuple[str, float]]:
    """(caller number key, when) of every 200 OK an operator's phone sent to an INVITE."""
    caller_of = {call_id: number_key(rest) for call_id, rest in log_pairs}
    return [
        (caller_of.get(m.call_id, ""), m.at)
        for m in messages
        if m.sent and m.status == 200 and m.cseq_method == "INVITE"
    ]


def mark_answered(calls: Sequence[SeenCall], answers: Iterable[tuple[str, float]]) -> None:
    """Set `operator_answered` of the calls an operator answered while they were up."""
    by_number: dict[str, list[SeenCall]] = {}
    for c in calls:
        by_number.setdefault(number_key(c.number), []).append(c)
    for key, at in answers:
        for c in by_number.get(key, ()):
            if c.invite_at is not None and c.ended_at is not None:
                c.operator_answered |= c.invite_at <= at <= c.ended_at


def sipp_day(calls: Sequence[SeenCall], patient_messages: Iterable[SipMessage]) -> SippDay:
    """The counts; `patient_messages`: the patients' phone's trace (the callbacks)."""
    reached = [c for c in calls if c.pbx_answer_at is not None]
    unanswered = [c for c in reached if not c.operator_answered]
    invited: dict[str, str] = {}  # call id -> the patient's number
    answered_back: set[str] = set()
    for m in patient_messages:
        if not m.sent and m.method == "INVITE":
            invited[m.call_id] = number_key(m.request_user)
        elif m.sent and m.status == 200 and m.cseq_method == "INVITE" and m.call_id in invited:
            answered_back.add(invited[m.call_id])
    return SippDay(
        placed=len(calls),
        answered=sum(1 for c in reached if c.operator_answered),
        abandoned=sum(1 for c in unanswered if c.caller_hung_up),
        ended_by_clinic=sum(1 for c in unanswered if c.far_hung_up),
        failed=len(calls) - len(reached),
        missed_numbers={number_key(c.number) for c in unanswered},
        dialled_back=set(invited.values()),
        patients_answered=answered_back,
    )


@dataclass(frozen=True, slots=True)
class Agreement:
    figure: str
    report: float
    sipp: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.report - self.sipp) <= self.tolerance


def tolerance(placed: int) -> float:
    return float(max(MIN_TOLERANCE, round(TOLERANCE_SHARE * placed)))


def agreements(
    calls: Mapping[str, Any], misses: Mapping[str, Any], seen: SippDay
) -> list[Agreement]:
    """The report's figures (the `calls` and `misses` rows of the API) against SIPp's."""
    tol = tolerance(seen.placed)
    clinic = calls["no_operator"] + calls["callback_promised"] + calls["message"]
    return [
        Agreement("calls placed = offered", calls["offered"], seen.placed, 0),
        Agreement("answered", calls["answered"], seen.answered, tol),
        Agreement("abandoned", calls["abandoned"], seen.abandoned, tol),
        Agreement("ended by the clinic", clinic, seen.ended_by_clinic, tol),
        Agreement("misses in the ledger", misses["misses"], seen.misses, tol),
        Agreement("callbacks reached", misses["called_back"], len(seen.patients_answered), tol),
    ]


def every_miss_worked(misses: Mapping[str, Any], seen: SippDay) -> list[str]:
    """What is wrong with "every miss is in the ledger and worked" (empty: nothing)."""
    problems = []
    if misses["open_now"]:
        problems.append(f"{misses['open_now']} callback tasks still open")
    if misses["tasks_created"] and misses["worked_share"] != 1.0:
        problems.append(f"worked share {misses['worked_share']}, not 1.0")
    not_dialled = seen.missed_numbers - seen.dialled_back
    if not_dialled:
        problems.append(
            f"{len(not_dialled)} missed numbers never dialled back: {sorted(not_dialled)[:5]}"
        )
    if misses["tasks_created"] != len(seen.dialled_back):
        problems.append(
            f"{misses['tasks_created']} tasks, but the patients' phone was dialled for "
            f"{len(seen.dialled_back)} numbers"
        )
    return problems
