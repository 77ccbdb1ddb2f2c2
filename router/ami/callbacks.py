"""Callbacks dialled over AMI for PBXes in AGI mode: the operator first, then the patient,
and the patient never twice for one attempt, across router restarts.

`AmiDialer.call_back` originates the operator's leg into [clinic-router-agi-callback]
(AMI Originate, async). When the operator answers, that context asks the router over
FastAGI (`callback` script) whether to go on: the router runs the dispatcher's gate (the
claim's `start_attempt`, then the `patient` stage written before the patient is dialled)
and only then hands the dialplan the whisper and the patient's dial string. A router that
restarts finds the stage `patient` and never dials again (the dispatcher's
interrupted-attempt rule); a router that does not answer the AGI leaves the operator's
call to hang up (TIMEOUT). `follow` watches an attempt's operator leg that a restarted
router found still up (`CoreShowChannels`) to its end, without dialling anything.

The operator's leg is named `cr-cb-<task>-<attempt>-<n>` (`ami_leg_prefix`): a restarted
router finds it by the task's attempt number. The dispatcher (router/engine,
callbacks/dispatch.py) owns claims, choice of operator, policy and `finish_attempt`; this
module only dials and reports what happened.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from router.agi.channel import AgiChannel
from router.ami.connection import AmiConnection, AmiError
from router.ami.protocol import Message
from router.ami.queue_calls import DIAL_RESULTS
from router.domain.calls import RingResult

log = logging.getLogger(__name__)

CONTEXT = "clinic-router-agi-callback"
Gate = Callable[[], Awaitable[bool]]  # the dispatcher's start_attempt + patient stage
# ("operator" | "patient", how the ring ended, how long it rang in ms: the operator's
# from the Originate, the patient's from Dial()'s DialBegin or from when it was followed)
OnRing = Callable[[str, RingResult, int], None]
# OriginateResponse's Reason (Asterisk's AST_CONTROL_*): how the operator's ring ended
ORIGINATE_REASONS = {
    "1": RingResult.NO_ANSWER,  # hung up while ringing (declined)
    "3": RingResult.NO_ANSWER,  # rang out
    "5": RingResult.BUSY,
    "8": RingResult.UNAVAILABLE,  # congestion
}


class DialResult(StrEnum):
    OPERATOR_NO_ANSWER = "operator_no_answer"  # the patient was not dialled: no attempt
    NOT_OURS = "not_ours"  # the gate refused (claim lost): the patient was not dialled
    OPERATOR_LEFT = "operator_left"  # hung up during the whisper: the patient was not dialled
    PATIENT_ANSWERED = "patient_answered"
    PATIENT_BUSY = "patient_busy"
    PATIENT_NO_ANSWER = "patient_no_answer"
    PATIENT_FAILED = "patient_failed"
    UNKNOWN = "unknown"  # the leg ended with no word of the patient's ring (events lost)


@dataclass(frozen=True, slots=True)
class CallbackCall:
    task_id: int
    attempt: int  # the attempt this call becomes once the gate allows it
    endpoint: str  # the operator's phone
    patient_dial: str  # PJSIP/79161234567@patients
    whisper: tuple[str, ...] = ("clinic-callback",)  # sounds the operator hears first
    digits: str = ""  # then these digits of the number, read out
    reason: str = ""  # then this sound (why the patient is called back)
    ring_s: int = 30  # the patient's ring
    operator_ring_s: int = 30
    patient_number: str = ""  # shown on the operator's phone
    line_number: str = ""  # shown on the patient's phone
    leg: str = ""  # the operator leg's id (default: `ami_leg_prefix` and a number)


def ami_leg_prefix(task_id: int, attempt: int) -> str:
    """Every operator leg of one AMI attempt starts with this."""
    return f"cr-cb-{task_id}-{attempt}-"


@dataclass(slots=True)
class _Attempt:
    call: CallbackCall | None  # None: a leg followed after a restart
    gate: Gate | None
    done: asyncio.Future[DialResult]
    on_ring: OnRing | None = None
    gated: bool = False
    dialled: bool = False  # the dialplan's Dial() of the patient began
    since: float = field(default_factory=time.monotonic)  # the ring under way began
    created: float = field(default_factory=time.monotonic)
    operator: RingResult | None = None
    patient: RingResult | None = None
    sounds: list[str] = field(default_factory=list)


class AmiDialer:
    def __init__(self, ami: AmiConnection) -> None:
        self._ami = ami
        self._attempts: dict[str, _Attempt] = {}  # operator channel's Uniqueid -> attempt
        self._ids = itertools.count(1)

    @property
    def connected(self) -> bool:
        return self._ami.connected.is_set()

    async def call_back(
        self, call: CallbackCall, gate: Gate, limit_s: float = 3600, on_ring: OnRing | None = None
    ) -> DialResult:
        """Ring the operator; once they answer and `gate` allows it, the patient.
        `on_ring` hears how each ring ended (not the operator's answer: the gate is)."""
        channel_id = call.leg or f"{ami_leg_prefix(call.task_id, call.attempt)}{next(self._ids)}"
        attempt = _Attempt(call, gate, asyncio.get_running_loop().create_future(), on_ring)
        self._attempts[channel_id] = attempt
        fields = {
            "Channel": call.endpoint,
            "Context": CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(call.operator_ring_s * 1000),
            "ChannelId": channel_id,
            "ActionID": channel_id,  # a failed originate's OriginateResponse may lack Uniqueid
            "Async": "true",
            "Variable": f"CR_TASK={call.task_id}",
        }
        if call.patient_number:
            fields["CallerID"] = call.patient_number
        try:
            try:
                reply = await self._ami.action("Originate", fields)
            except AmiError as exc:
                log.warning("callback %d: originate refused: %s", call.task_id, exc)
                _rang(attempt, "operator", RingResult.UNAVAILABLE)
                return DialResult.OPERATOR_NO_ANSWER
            log.debug("callback %d: originate %s", call.task_id, reply.get("Message"))
            async with asyncio.timeout(limit_s):
                return await attempt.done
        finally:
            self._attempts.pop(channel_id, None)

    async def follow(
        self,
        uniqueid: str,
        on_ring: OnRing | None = None,
        *,
        answered: bool = False,
        limit_s: float = 4 * 3600,
    ) -> DialResult:
        """An attempt's operator leg that a restarted router found still up (`answered`:
        talking to the patient already): its end, and the patient's ring if it ends
        meanwhile. Nothing is dialled."""
        attempt = _Attempt(None, None, asyncio.get_running_loop().create_future(), on_ring)
        attempt.gated = attempt.dialled = True  # whatever the dialplan does, alone
        attempt.patient = RingResult.ANSWERED if answered else None
        self._attempts[uniqueid] = attempt
        try:
            # Its Hangup may have come between the channel list and now: asked again.
            try:
                live = {c.get("Uniqueid") for c in await self.channels()}
            except AmiError as exc:
                log.warning("cannot list Asterisk's channels to follow %s: %s", uniqueid, exc)
            else:
                if uniqueid not in live:
                    _settle(attempt, _result(attempt))
            async with asyncio.timeout(limit_s):
                return await attempt.done
        finally:
            self._attempts.pop(uniqueid, None)

    def resync(self, live: set[str]) -> None:
        """After an AMI reconnect, with the Uniqueids Asterisk has: an attempt whose leg
        is gone ended while its events were lost with the socket. A leg still being
        originated may be missing from the list: an unanswered one counts as gone only
        once its ring time is over."""
        now = time.monotonic()
        for uniqueid, attempt in list(self._attempts.items()):
            if uniqueid in live:
                continue
            ring_s = attempt.call.operator_ring_s if attempt.call is not None else 0
            if attempt.gated:
                lost = attempt.patient is None  # how the patient's ring ended is unknown
                _settle(attempt, DialResult.UNKNOWN if lost else _result(attempt))
            elif now - attempt.created > ring_s + 5:
                _rang(attempt, "operator", RingResult.NO_ANSWER)
                _settle(attempt, DialResult.OPERATOR_NO_ANSWER)

    async def channels(self) -> list[Message]:
        """Asterisk's channels now (CoreShowChannels)."""
        return await self._ami.channels()

    async def agi_callback(self, channel: AgiChannel) -> None:
        """The `callback` FastAGI script, run on the operator's answered channel."""
        attempt = self._attempts.get(channel.request.uniqueid)
        if attempt is None or attempt.gated or attempt.gate is None or attempt.call is None:
            await channel.set_variable("CR_GO", "no")  # not an attempt of this router's
            return
        attempt.gated = True
        if not await attempt.gate():
            await channel.set_variable("CR_GO", "no")
            _settle(attempt, DialResult.NOT_OURS)
            return
        call = attempt.call
        for name, value in (
            ("CR_DIAL", call.patient_dial),
            ("CR_RING", str(call.ring_s)),
            ("CR_WHISPER", "&".join(call.whisper)),
            ("CR_DIGITS", call.digits),
            ("CR_REASON", call.reason),
            ("CR_CALLERID", call.line_number),
            ("CR_GO", "yes"),
        ):
            await channel.set_variable(name, value)

    def on_event(self, event: Message) -> None:
        """OriginateResponse, DialEnd and Hangup of the operator's leg."""
        name = event.get("Event")
        if name == "OriginateResponse":
            attempt = self._attempts.get(event.get("Uniqueid", "")) or self._attempts.get(
                event.get("ActionID", "")
            )
            if attempt is not None and event.get("Response") != "Success":
                reason = ORIGINATE_REASONS.get(event.get("Reason", ""), RingResult.UNAVAILABLE)
                _rang(attempt, "operator", reason)
                _settle(attempt, DialResult.OPERATOR_NO_ANSWER)
            return
        attempt = self._attempts.get(event.get("Uniqueid", ""))
        if attempt is None:
            return
        if name == "DialBegin":
            attempt.dialled, attempt.since = True, time.monotonic()
        elif name == "DialEnd":
            result = DIAL_RESULTS.get(event.get("DialStatus", ""), RingResult.UNAVAILABLE)
            if attempt.patient is None and attempt.gated:
                attempt.patient = result
                _rang(attempt, "patient", result)
        elif name == "Hangup":
            if not attempt.gated:
                _rang(attempt, "operator", RingResult.NO_ANSWER)  # answered: the gate ran
            _settle(attempt, _result(attempt))


# How the patient's ring ended, by the attempt's result (answered: they talked).
PATIENT_RINGS = {
    DialResult.PATIENT_ANSWERED: RingResult.ANSWERED,
    DialResult.PATIENT_BUSY: RingResult.BUSY,
    DialResult.PATIENT_NO_ANSWER: RingResult.NO_ANSWER,
    DialResult.PATIENT_FAILED: RingResult.UNAVAILABLE,
}


def _rang(attempt: _Attempt, party: str, result: RingResult) -> None:
    if party == "operator":
        if attempt.operator is not None:
            return  # told once
        attempt.operator = result
    if attempt.on_ring is not None:
        ms = int((time.monotonic() - attempt.since) * 1000)
        try:
            attempt.on_ring(party, result, ms)
        except Exception:  # a journal hiccup must not lose the attempt
            log.exception("callback ring of the %s not recorded", party)


def _result(attempt: _Attempt) -> DialResult:
    if not attempt.gated:
        return DialResult.OPERATOR_NO_ANSWER  # hung up before the router let it go on
    if attempt.call is None and attempt.patient is None:
        return DialResult.UNKNOWN
    if not attempt.dialled:
        return DialResult.OPERATOR_LEFT
    if attempt.patient is None:
        return DialResult.PATIENT_FAILED  # Dial() ended with no DialEnd
    return {
        RingResult.ANSWERED: DialResult.PATIENT_ANSWERED,
        RingResult.BUSY: DialResult.PATIENT_BUSY,
        RingResult.NO_ANSWER: DialResult.PATIENT_NO_ANSWER,
        RingResult.CANCELLED: DialResult.PATIENT_NO_ANSWER,
    }.get(attempt.patient, DialResult.PATIENT_FAILED)


def _settle(attempt: _Attempt, result: DialResult) -> None:
    if not attempt.done.done():
        attempt.done.set_result(result)


__all__ = [
    "PATIENT_RINGS",
    "AmiDialer",
    "AmiError",
    "CallbackCall",
    "DialResult",
    "ami_leg_prefix",
]
