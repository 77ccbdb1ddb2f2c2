"""Callbacks dialled over AMI for PBXes in AGI mode: the operator first, then the patient,
and the patient never twice for one attempt, across router restarts.

`AmiDialer.call_back` originates the operator's leg into [clinic-router-agi-callback]
(AMI Originate, async). When the operator answers, that context asks the router over
FastAGI (`callback` script) whether to go on: the router runs the dispatcher's gate (the
claim's `start_attempt`, then the `patient` stage written before the patient is dialled)
and only then hands the dialplan the patient's dial string. A router that restarts finds
the stage `patient` and never dials again (the dispatcher's interrupted-attempt rule);
a router that does not answer the AGI leaves the operator's call to hang up (TIMEOUT).

The dispatcher (router/engine, callback_dispatch) owns claims, choice of operator, policy
and `finish_attempt`; this module only dials and reports what happened.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
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


class DialResult(StrEnum):
    OPERATOR_NO_ANSWER = "operator_no_answer"  # the patient was not dialled: no attempt
    NOT_OURS = "not_ours"  # the gate refused (claim lost): the patient was not dialled
    PATIENT_ANSWERED = "patient_answered"
    PATIENT_BUSY = "patient_busy"
    PATIENT_NO_ANSWER = "patient_no_answer"
    PATIENT_FAILED = "patient_failed"


@dataclass(frozen=True, slots=True)
class CallbackCall:
    task_id: int
    endpoint: str  # the operator's phone
    patient_dial: str  # PJSIP/79161234567@patients
    whisper: str  # what the operator hears before the patient is dialled
    ring_s: int = 30


@dataclass(slots=True)
class _Attempt:
    call: CallbackCall
    gate: Gate
    done: asyncio.Future[DialResult]
    gated: bool = False
    patient: RingResult | None = None
    sounds: list[str] = field(default_factory=list)


class AmiDialer:
    def __init__(self, ami: AmiConnection) -> None:
        self._ami = ami
        self._attempts: dict[str, _Attempt] = {}  # operator channel's Uniqueid -> attempt
        self._ids = itertools.count(1)

    async def call_back(self, call: CallbackCall, gate: Gate, limit_s: float = 3600) -> DialResult:
        """Ring the operator; once they answer and `gate` allows it, the patient."""
        channel_id = f"cr-cb-{call.task_id}-{next(self._ids)}"
        attempt = _Attempt(call, gate, asyncio.get_running_loop().create_future())
        self._attempts[channel_id] = attempt
        try:
            reply = await self._ami.action(
                "Originate",
                {
                    "Channel": call.endpoint,
                    "Context": CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                    "Timeout": str(call.ring_s * 1000),
                    "ChannelId": channel_id,
                    "Async": "true",
                    "Variable": f"CR_TASK={call.task_id}",
                },
            )
            log.debug("callback %d: originate %s", call.task_id, reply.get("Message"))
            async with asyncio.timeout(limit_s):
                return await attempt.done
        finally:
            self._attempts.pop(channel_id, None)

    async def agi_callback(self, channel: AgiChannel) -> None:
        """The `callback` FastAGI script, run on the operator's answered channel."""
        attempt = self._attempts.get(channel.request.uniqueid)
        if attempt is None or attempt.gated:
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
            ("CR_WHISPER", call.whisper),
            ("CR_GO", "yes"),
        ):
            await channel.set_variable(name, value)

    def on_event(self, event: Message) -> None:
        """OriginateResponse, DialEnd and Hangup of the operator's leg."""
        name = event.get("Event")
        if name == "OriginateResponse":
            attempt = self._attempts.get(event.get("Uniqueid", ""))
            if attempt is not None and event.get("Response") != "Success":
                _settle(attempt, DialResult.OPERATOR_NO_ANSWER)
            return
        attempt = self._attempts.get(event.get("Uniqueid", ""))
        if attempt is None:
            return
        if name == "DialEnd":
            attempt.patient = DIAL_RESULTS.get(event.get("DialStatus", ""), RingResult.UNAVAILABLE)
        elif name == "Hangup":
            _settle(attempt, _result(attempt))


def _result(attempt: _Attempt) -> DialResult:
    if not attempt.gated:
        return DialResult.OPERATOR_NO_ANSWER  # hung up before the router let it go on
    return {
        RingResult.ANSWERED: DialResult.PATIENT_ANSWERED,
        RingResult.BUSY: DialResult.PATIENT_BUSY,
        RingResult.NO_ANSWER: DialResult.PATIENT_NO_ANSWER,
        RingResult.CANCELLED: DialResult.PATIENT_NO_ANSWER,
        None: DialResult.PATIENT_FAILED,  # the operator hung up before the patient's ring ended
    }.get(attempt.patient, DialResult.PATIENT_FAILED)


def _settle(attempt: _Attempt, result: DialResult) -> None:
    if not attempt.done.done():
        attempt.done.set_result(result)


__all__ = ["AmiDialer", "AmiError", "CallbackCall", "DialResult"]
