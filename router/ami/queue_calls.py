"""AGI-mode calls followed through app_queue's and Dial's AMI events, without I/O.

`follow(call, event, now)` turns one AMI event about a tracked caller channel into what
the journey and the ledger must record (`Step`, `Ring`, `Connected`, `Ended`). How a call
ended is settled at the caller's Hangup, because app_queue sends QueueCallerLeave both
when a caller is connected and when Queue() gives up:

- connected to an operator (AgentConnect, or Dial's ANSWER for a manager): `answered`;
- QueueCallerAbandon: `abandoned` (the miss is the queue's wait);
- left the queue unconnected, or never let in (QUEUESTATUS TIMEOUT, JOINEMPTY…):
  `no_operator` with a `max_wait` miss;
- hung up before reaching a queue (while the manager's phone rang): `abandoned`;
- hung up before the router's decision reached the channel (`deciding`: the router was
  still looking the caller up or playing its menu): `abandoned` in the IVR.

A call is followed from the start of its AGI session, not from its decision: under load
the AMI stream can be read ahead of the AGI session, and a call whose decision came
after `CR_AGI_TIMEOUT` goes on in the dialplan's plain queue without any decision. Such
a call is recorded as what the plain queue made of it, with a step `agi_late`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.ami.protocol import Message
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, RingResult

DIAL_RESULTS = {
    "NOANSWER": RingResult.NO_ANSWER,
    "BUSY": RingResult.BUSY,
    "CHANUNAVAIL": RingResult.UNAVAILABLE,
    "CONGESTION": RingResult.UNAVAILABLE,
    "CANCEL": RingResult.CANCELLED,
    "ANSWER": RingResult.ANSWERED,
}
# Queue() ended with nobody to take the call (a wait that ran out, no member could serve)
# the dialplan has taken the call on: queued, or ringing someone
_GOING_ON = frozenset({"QueueCallerJoin", "AgentCalled", "DialBegin"})
UNSERVED = frozenset({"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"})


@dataclass(slots=True)
class QueueCall:
    """What the events have told so far about one AGI-mode caller channel."""

    call_id: str  # the caller channel's Uniqueid (= the AGI session's agi_uniqueid)
    started: float
    joined_at: float | None = None
    left_at: float | None = None
    queue: str | None = None
    ringing: dict[str, tuple[str, float]] = field(
        default_factory=dict
    )  # dest id -> (endpoint, since)
    connected: str | None = None  # the endpoint that answered
    unserved: str | None = None  # QUEUESTATUS when Queue() ended without an operator
    ended: bool = False
    deciding: bool = False  # the router's decision has not reached the channel (yet)
    late: bool = False  # went on without the decision (the `agi_late` step is recorded)


@dataclass(frozen=True, slots=True)
class Step:
    kind: str
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class Ring:
    endpoint: str
    result: RingResult
    ms: int


@dataclass(frozen=True, slots=True)
class Connected:
    endpoint: str


@dataclass(frozen=True, slots=True)
class Ended:
    outcome: Outcome
    miss: MissReason | None = None
    waited_s: float = 0.0
    label: str | None = None


Effect = Step | Ring | Connected | Ended


def follow(call: QueueCall, event: Message, now: float) -> list[Effect]:
    """What `event` (about `call`'s channel) means for the record."""
    if call.ended:
        return []
    name = event.get("Event", "")
    late = _went_on(call, name, event, now)
    return late + _effects(call, name, event, now) if late else _effects(call, name, event, now)


def _went_on(call: QueueCall, name: str, event: Message, now: float) -> list[Effect]:
    """The dialplan went on while the router was deciding: its `CR_AGI_TIMEOUT` fired and
    the call is in the plain queue (or rings there) without the router's decision."""
    if not call.deciding or call.late or name not in _GOING_ON:
        return []
    call.late = True
    went_on = event.get("Queue") or _endpoint(event.get("DestChannel", ""))
    return [Step("agi_late", {"went_on": went_on, "after_s": round(now - call.started, 1)})]


def _effects(call: QueueCall, name: str, event: Message, now: float) -> list[Effect]:
    if name == "QueueCallerJoin":
        call.joined_at, call.queue = now, event.get("Queue")
        return [Step("waiting", {"queue": call.queue, "position": _int(event.get("Position"))})]
    if name in ("AgentCalled", "DialBegin"):
        return _ringing(call, event, now, queued=name == "AgentCalled")
    if name == "AgentRingNoAnswer":  # its RingTime is in milliseconds (Asterisk 22)
        return _ring_end(call, event, now, RingResult.NO_ANSWER, ring_time_ms=1)
    if name == "DialEnd" and call.joined_at is None:  # a queue's own rings have Agent* events
        result = DIAL_RESULTS.get(event.get("DialStatus", ""), RingResult.NO_ANSWER)
        effects = _ring_end(call, event, now, result)
        if result is RingResult.ANSWERED:
            effects.append(_connect(call, event.get("DestChannel", "")))
        return effects
    if name == "AgentConnect":
        effects = _ring_end(call, event, now, RingResult.ANSWERED)
        return [*effects, _connect(call, event.get("Interface", ""))]
    if name == "QueueCallerAbandon":
        call.ended = True
        waited = _int(event.get("HoldTime")) or (now - (call.joined_at or call.started))
        return [Ended(Outcome.ABANDONED, MissReason.ABANDONED, float(waited), "abandoned")]
    if name == "QueueCallerLeave":
        call.left_at = now
        return []
    if name == "VarSet" and event.get("Variable") == "QUEUESTATUS":
        if event.get("Value") in UNSERVED:
            call.unserved = event.get("Value")
        return []
    if name == "Hangup":
        return hung_up(call, now)
    return []


def _ringing(call: QueueCall, event: Message, now: float, *, queued: bool) -> list[Effect]:
    if not queued and call.joined_at is not None:
        return []  # app_queue's member calls: their AgentCalled says it
    endpoint = event.get("Interface") if queued else _endpoint(event.get("DestChannel", ""))
    call.ringing[event.get("DestUniqueid", "")] = (endpoint or "", now)
    return [Step("ringing", {"endpoint": endpoint})]


def _ring_end(
    call: QueueCall, event: Message, now: float, result: RingResult, ring_time_ms: int = 1000
) -> list[Effect]:
    """`ring_time_ms`: milliseconds in one unit of the event's RingTime (AgentConnect's
    counts seconds, AgentRingNoAnswer's milliseconds: 5000 for a 5 s ring timeout)."""
    rang = call.ringing.pop(event.get("DestUniqueid", ""), None)
    if rang is None:
        return []
    endpoint, since = rang
    ring_time = event.get("RingTime")
    ms = _int(ring_time) * ring_time_ms if ring_time else int((now - since) * 1000)
    return [Ring(endpoint, result, ms)]


def _connect(call: QueueCall, channel_or_interface: str) -> Connected:
    call.connected = _endpoint(channel_or_interface)
    return Connected(call.connected)


def hung_up(call: QueueCall, now: float) -> list[Effect]:
    """The caller's channel is gone: how the call ended (also for a Hangup nobody read:
    router/ami/records.py's resync)."""
    call.ended = True
    if call.connected is not None:
        return [Ended(Outcome.ANSWERED)]
    if call.joined_at is not None or call.unserved is not None:
        waited = (call.left_at or now) - (call.joined_at or now)
        return [Ended(Outcome.NO_OPERATOR, MissReason.MAX_WAIT, waited, "max_wait")]
    waited = now - call.started
    if call.deciding and not call.late:  # as ARI mode's hang-up in the IVR
        ivr = Ended(Outcome.ABANDONED, MissReason.ABANDONED, waited, "abandoned_in_ivr")
        return [Step("abandoned", {"in": "agi"}), ivr]
    return [Ended(Outcome.ABANDONED, MissReason.ABANDONED, waited, "abandoned")]


def _endpoint(channel: str) -> str:
    """`PJSIP/op1001-0000002a` -> `PJSIP/op1001` (an interface is already one)."""
    tech, _, rest = channel.partition("/")
    return f"{tech}/{rest.rsplit('-', 1)[0]}" if "-" in rest else channel


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
