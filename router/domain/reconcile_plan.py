"""What to do after a (re)connect, decided from plain values: the database's open calls,
the channels and bridges Asterisk still has, and what this process already runs.

Asterisk replays no events: calls that ended while the router was away get no StasisEnd,
and an app's channels stay in Stasis until someone acts. So every open call is adopted
(it talks on, or waits on with the operators already rung never rung again, a ring in
progress ringing on) or closed (its caller is gone: answered if it had been bridged,
else lost and a miss); a caller in our app the database does not know (its write was
lost) is adopted too; operator legs nobody keeps are hung up, and our bridges nobody
owns are deleted. The engine (`router/engine/reconcile.py`) reads the values and carries
the steps out in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Names the router gives what it creates in Asterisk, so a restart can find them again:
# a call's bridge is `cr-<call id>`, its operator legs `<call id>-op<n>`.
BRIDGE_PREFIX = "cr-"
LEG_MARK = "-op"
# A callback attempt's channels are `cb-<task>-<attempt>-op<x>` and `…-pt`, its bridge
# `cb-<task>-<attempt>`; the callback dispatcher, not reconcile, settles them.
CALLBACK_PREFIX = "cb-"


@dataclass(frozen=True, slots=True)
class SeenChannel:
    """A channel as Asterisk lists it."""

    id: str
    up: bool = False  # state Up: an operator leg that answered
    operator: str | None = None  # the operator whose phone the channel is on, if any
    exten: str = ""  # a caller's DID
    caller_number: str = ""


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call the database has not closed."""

    id: str
    bridged: bool = False  # it reached an operator
    operator_id: str | None = None
    tried: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Seen:
    channels: Mapping[str, SeenChannel]
    bridges: Mapping[str, tuple[str, ...]]  # bridge id -> its channel ids
    app_channels: tuple[str, ...] = ()  # the channels in our Stasis app
    open_calls: tuple[OpenCall, ...] = ()
    owned: frozenset[str] = frozenset()  # channels a running call or attempt here owns


@dataclass(frozen=True, slots=True)
class AdoptedRing:
    """An operator leg the previous process was ringing for the call: it rings on."""

    leg: str
    operator_id: str
    answered: bool = False  # answered while nobody listened (its StasisStart was lost)


@dataclass(frozen=True, slots=True)
class HangUp:
    channel: str


@dataclass(frozen=True, slots=True)
class Close:
    """The caller is gone: answered if they had been bridged, else lost (and a miss)."""

    call_id: str
    answered: bool


@dataclass(frozen=True, slots=True)
class Adopt:
    """A coroutine takes the call over."""

    call_id: str
    tried: tuple[str, ...] = ()  # operators already rung: never rung again
    bridged_with: str | None = None  # the operator leg it talks with
    operator_id: str | None = None
    ringing: AdoptedRing | None = None
    known: bool = True  # False: the database has no row for it
    exten: str = ""
    caller_number: str = ""
    # It had reached an operator whose leg is gone: the conversation ended while nobody
    # listened (the operator hung up during the restart). The call ends answered; the
    # caller is not put back in a queue to be told nobody is available.
    talk_over: bool = False


Step = HangUp | Close | Adopt


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...] = ()  # in this order
    orphan_bridges: tuple[str, ...] = ()  # ours, owned by no call: deleted in the background

    @property
    def adopted(self) -> tuple[Adopt, ...]:
        return tuple(s for s in self.steps if isinstance(s, Adopt))


@dataclass
class _Planning:
    seen: Seen
    steps: list[Step] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    kept: set[str] = field(default_factory=set)  # legs an adopted call keeps (attached)


def plan_reconcile(seen: Seen) -> Plan:
    """The steps that settle every open call and every channel of ours after a connect."""
    planning = _Planning(seen)
    for row in seen.open_calls:
        planning.handled.add(row.id)
        if row.id not in seen.owned:
            _settle_row(planning, row)
    for channel_id in seen.app_channels:
        _adopt_unknown(planning, channel_id)
    _hang_up_orphan_legs(planning)
    calls = seen.owned | {s.call_id for s in planning.steps if isinstance(s, Adopt)}
    ours = (b for b in seen.bridges if b.startswith(BRIDGE_PREFIX))
    orphans = tuple(b for b in ours if b.removeprefix(BRIDGE_PREFIX) not in calls)
    return Plan(tuple(planning.steps), orphans)


def legs_of(call_id: str, channels: Mapping[str, SeenChannel]) -> list[str]:
    """Operator legs are originated as `<call id>-op<n>`."""
    return sorted(c for c in channels if c.startswith(call_id + LEG_MARK))


def leg_number(leg: str) -> int:
    """`<call id>-op12` -> 12 (names sort op10 before op2)."""
    number = leg.rsplit(LEG_MARK, 1)[-1]
    return int(number) if number.isdigit() else 0


def _bridge_of(seen: Seen, channel_id: str) -> tuple[str, ...]:
    return next((m for m in seen.bridges.values() if channel_id in m), ())


def _settle_row(planning: _Planning, row: OpenCall) -> None:
    """Adopt or close one open call nobody here runs."""
    seen = planning.seen
    # Legs come from Asterisk, not only from the row: the process may have died right
    # after an originate, before the journal write naming the leg was flushed.
    legs = legs_of(row.id, seen.channels)
    planning.handled.update(legs)
    if row.id not in seen.channels:
        planning.steps += [HangUp(leg) for leg in legs]  # its bridge goes with the orphans
        planning.steps.append(Close(row.id, answered=row.bridged))
        return
    members = _bridge_of(seen, row.id)
    talking = next((leg for leg in legs if leg in members), None)
    # A call that talked keeps no ring: its operator's legs were the conversation.
    ring = None if talking is not None or row.bridged else _ring_to_keep(seen, legs)
    tried = list(row.tried)
    for leg in legs:
        operator = seen.channels[leg].operator
        if operator and operator not in tried:
            tried.append(operator)  # rung by the previous process: never ring again
        if leg != talking and (ring is None or leg != ring.leg):
            planning.steps.append(HangUp(leg))  # an older ring, or one whose operator left
    operator_id = None
    if talking is not None:
        operator_id = row.operator_id or seen.channels[talking].operator
    elif row.bridged:
        # Talked, and the operator's leg left the bridge while nobody listened: over.
        over = Adopt(row.id, tuple(tried), operator_id=row.operator_id, talk_over=True)
        planning.steps.append(over)
        return
    planning.steps.append(Adopt(row.id, tuple(tried), talking, operator_id, ring))
    planning.kept.update(leg for leg in (talking, ring.leg if ring else None) if leg)


def _ring_to_keep(seen: Seen, legs: list[str]) -> AdoptedRing | None:
    """The leg the previous process was ringing last, if its operator is still ours: it
    rings on for the adopted caller (hanging it up could cost them the only operator who
    may take them, and ringing again would ring one phone twice)."""
    if not legs:
        return None
    leg = max(legs, key=leg_number)
    channel = seen.channels[leg]
    if channel.operator is None:
        return None
    return AdoptedRing(leg, channel.operator, answered=channel.up)


def _adopt_unknown(planning: _Planning, channel_id: str) -> None:
    """A channel in our app the database does not know (its write was lost)."""
    seen = planning.seen
    channel = seen.channels.get(channel_id)
    if channel_id in planning.handled or channel_id in seen.owned or channel is None:
        return
    if LEG_MARK in channel_id or channel_id.startswith(CALLBACK_PREFIX):
        return  # operator legs are settled with their caller, callbacks apart
    planning.handled.add(channel_id)
    members = _bridge_of(seen, channel_id)
    partner = next((c for c in members if c != channel_id and c in seen.channels), None)
    if partner is not None:
        operator = seen.channels[partner].operator
        adopt = Adopt(channel_id, bridged_with=partner, operator_id=operator, known=False)
    else:
        # Its legs say whom the previous process rang: never ring them again; the last
        # one rings on. Not in our database at all: the row the lost write should have made.
        legs = legs_of(channel_id, seen.channels)
        rung = (seen.channels[leg].operator for leg in legs)
        ring = _ring_to_keep(seen, legs)
        tried = tuple(dict.fromkeys(op for op in rung if op))
        adopt = Adopt(channel_id, tried, ringing=ring, known=False)
        planning.kept.update([ring.leg] if ring else [])
    adopt = Adopt(
        adopt.call_id,
        adopt.tried,
        adopt.bridged_with,
        adopt.operator_id,
        adopt.ringing,
        adopt.known,
        channel.exten,
        channel.caller_number,
    )
    planning.steps.append(adopt)


def _hang_up_orphan_legs(planning: _Planning) -> None:
    """Operator legs no open call settled: keep only one talking to its caller."""
    seen = planning.seen
    for channel_id in seen.channels:
        if LEG_MARK not in channel_id or channel_id in planning.handled:
            continue
        if channel_id.startswith(CALLBACK_PREFIX):
            continue  # the callback dispatcher settles its own legs
        if channel_id in seen.owned or channel_id in planning.kept:
            continue  # ringing for a call of ours (the socket only dropped, or adopted)
        caller_id = channel_id.split(LEG_MARK)[0]
        if caller_id not in _bridge_of(seen, channel_id):
            planning.steps.append(HangUp(channel_id))
