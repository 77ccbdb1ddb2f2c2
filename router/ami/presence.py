"""AGI-mode operators' presence from app_queue's AMI events, on the board ARI mode uses.

app_queue rings the operators in AGI mode, so its events move them on the board (the
console, `GET /api/operators`, `operator_states` for the reports): `AgentCalled`
ringing, `AgentConnect` on a call, `AgentComplete` wrap-up (the operator's, else the
router's `wrap_up_s`), `AgentRingNoAnswer` back to ready, counted by the no-answer
policy of domain/presence.py: `routing.pause_after_no_answers` rings let ring out in a
row pause the operator (reason `no_answer`), and that pause is sent to app_queue
(`QueuePause`), which then stops ringing the phone. The manager-first `Dial()` of the
AGI dialplan is not app_queue's: router/ami/records.py reports its rings here
(`dial_*`).

Pauses go both ways (domain/queue_presence.py): `QueueMemberPause` from the phone or a
panel (a feature code's PauseQueueMember, the CLI, another AMI client) shows on the board
with its reason,
and every pause, log-out or return the board gets from elsewhere (the API, the console,
a feature code, the no-answer policy) is sent to app_queue, in order, by one task. An
event that only repeats what the router sent is recognised and dropped. After each AMI
login `resync` reads every member (`QueueStatus`).

Why no `DeviceStateChange` (nor `QueueMemberStatus`, see MEMBER_EVENTS): app_queue
watches its members' devices itself and moves them by its Agent* events; the Dial()'s
rings come from Dial's events; and a PBX's every phone change is not worth the traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum

from router.agi.queues import PREFIX
from router.ami.protocol import Message
from router.domain.calls import RingResult
from router.domain.operators import OperatorStatus, Presence, PresenceChange
from router.domain.presence import HELD_BY_A_CALL
from router.domain.queue_presence import (
    RINGABLE,
    AppQueuePause,
    adopt,
    app_queue_pause,
    resync,
    ring_result,
    same_pause,
    wanted_in_app_queue,
)
from router.engine.context import CallContext

log = logging.getLogger(__name__)

Action = Callable[[str, Mapping[str, str]], Awaitable[Message]]
# QueueMemberPause: a pause changed; QueueMember: QueueStatus's list (resync). Not
# QueueMemberStatus: it repeats the member's pause at every device change, and one sent
# just before app_queue took the router's QueuePause arrives after it and would undo it
# on the board (seen on Asterisk 22: paused, unpaused, paused again within 2 ms).
MEMBER_EVENTS = frozenset({"QueueMemberPause", "QueueMember"})


class Held(StrEnum):
    """What set a ringing / on_call operator on the board here (nothing else is undone)."""

    QUEUE = "queue"
    DIAL = "dial"


class AmiPresence:
    def __init__(
        self,
        ctx: CallContext,
        action: Action,
        connected: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self._action, self._connected, self._clock = action, connected, clock
        # interface (lower case) -> queue -> that membership's pause, as app_queue has it
        self._members: dict[str, dict[str, AppQueuePause]] = {}
        self._held: dict[str, tuple[Held, float]] = {}  # operator -> (by what, since)
        self._unsent: set[str] = set()  # operators whose change AMI could not take
        self._outbox: asyncio.Queue[tuple[str, str, AppQueuePause]] = asyncio.Queue()
        ctx.board.add_listener(self._on_board_change)

    # -- app_queue's events -------------------------------------------------------------

    def on_event(self, event: Message) -> None:
        name = event.get("Event", "")
        if name in MEMBER_EVENTS:
            self._member(event)
            return
        status = self._status(event.get("Interface", ""))
        if status is None:
            return
        if name == "AgentCalled":
            self._ring_begins(status, Held.QUEUE)
        elif name == "AgentRingNoAnswer":
            rang = self._ring_over(status, Held.QUEUE)
            if rang is not None:
                timeout = self.ctx.settings.ring_timeout_s
                self.ctx.operator_ring_result(status.id, ring_result(rang, timeout))
        elif name == "AgentConnect":
            self._connected_call(status, Held.QUEUE)
        elif name == "AgentComplete":
            self._call_over(status, Held.QUEUE, self._queue_wrap_up(event.get("Queue", "")))

    # -- Dial() of the AGI dialplan (router/ami/records.py) -----------------------------

    def dial_ringing(self, endpoint: str) -> None:
        if (status := self._status(endpoint)) is not None:
            self._ring_begins(status, Held.DIAL)

    def dial_ring_over(self, endpoint: str, result: RingResult) -> None:
        if (status := self._status(endpoint)) is None:
            return
        if result is RingResult.ANSWERED:
            self._connected_call(status, Held.DIAL)
            return
        if self._ring_over(status, Held.DIAL) is not None:
            self.ctx.operator_ring_result(status.id, result)

    def dial_call_over(self, endpoint: str) -> None:
        if (status := self._status(endpoint)) is not None:
            self._call_over(status, Held.DIAL)

    # -- the board's moves ----------------------------------------------------------------

    def _ring_begins(self, status: OperatorStatus, by: Held) -> None:
        if status.presence in RINGABLE:
            self.ctx.board.set(status.id, Presence.RINGING)
            self._held[status.id] = (by, self._clock())

    def _ring_over(self, status: OperatorStatus, by: Held) -> float | None:
        """How long it rang (None: not a ring this module put on the board)."""
        held = self._held.get(status.id)
        if held is None or held[0] is not by or status.presence is not Presence.RINGING:
            return None
        del self._held[status.id]
        self.ctx.board.ring_failed(status.id)
        return self._clock() - held[1]

    def _connected_call(self, status: OperatorStatus, by: Held) -> None:
        held = self._held.get(status.id)
        mine = held is not None and held[0] is by
        if not (mine and status.presence is Presence.RINGING) and status.presence not in RINGABLE:
            return  # held by a call of ARI mode, or paused: not this module's to move
        self._held[status.id] = (by, self._clock())
        self.ctx.board.connected(status.id)
        self.ctx.operator_ring_result(status.id, RingResult.ANSWERED)

    def _call_over(self, status: OperatorStatus, by: Held, wrap_up_s: float | None = None) -> None:
        held = self._held.get(status.id)
        if held is None or held[0] is not by or status.presence is not Presence.ON_CALL:
            return
        del self._held[status.id]
        self.ctx.operator_call_finished(status.id, wrap_up_s)

    def _queue_wrap_up(self, app_queue_name: str) -> float | None:
        """The rules queue's own wrap-up (`clinic-<id>`; None: the operator's, else the
        router's), as ARI mode takes it."""
        queue = self.ctx.rules().queues.get(app_queue_name.removeprefix(PREFIX))
        return queue.wrap_up_s if queue is not None else None

    def _status(self, endpoint: str) -> OperatorStatus | None:
        return self.ctx.board.by_endpoint(endpoint) if endpoint else None

    # -- pauses: app_queue -> board ---------------------------------------------------------

    def _member(self, event: Message) -> None:
        interface = (event.get("Interface") or event.get("Location") or "").lower()
        queue = event.get("Queue", "")
        if not interface or not queue:
            return
        before = self._pause_of(interface)
        self._members.setdefault(interface, {})[queue] = AppQueuePause(
            event.get("Paused") == "1", event.get("PausedReason") or event.get("Reason") or None
        )
        after = self._pause_of(interface)
        if event.get("Event") == "QueueMember" or same_pause(before, after):
            return  # a resync's list (resync() decides), or nothing new
        status = self._status(interface)
        if status is None:
            return
        change = adopt(status.presence, status.reason, status.pending, after)
        if change is not None:
            log.info(
                "operator %s %s on the PBX's side (app_queue): shown",
                status.id,
                f"paused ({after.reason})" if after.paused else "unpaused",
            )
            self.ctx.board.request_state(status.id, change.presence, change.reason)

    def _pause_of(self, interface: str) -> AppQueuePause:
        return app_queue_pause(
            pause for _, pause in sorted(self._members.get(interface, {}).items())
        )

    # -- pauses: board -> app_queue ---------------------------------------------------------

    def _on_board_change(self, status: OperatorStatus) -> None:
        if status.presence not in HELD_BY_A_CALL and status.id in self._held:
            del self._held[status.id]  # moved on by something else (reconcile, an admin)
        interface = status.operator.endpoint.lower()
        if interface not in self._members:
            return  # not an app_queue member (an ARI-mode-only operator)
        wanted = wanted_in_app_queue(status.presence, status.reason, status.pending)
        if same_pause(wanted, self._pause_of(interface)):
            return
        self._send(status, wanted)

    def _send(self, status: OperatorStatus, wanted: AppQueuePause) -> None:
        interface = status.operator.endpoint.lower()
        if not self._connected():
            self._unsent.add(status.id)  # sent at the next login (resync)
            return
        for queue in self._members.get(interface, {}):
            self._members[interface][queue] = wanted  # its echo is then no news
        self._outbox.put_nowait((status.id, status.operator.endpoint, wanted))

    async def run(self) -> None:
        """Send the board's pauses to app_queue in order, until cancelled."""
        while True:
            operator_id, endpoint, wanted = await self._outbox.get()
            fields = {"Interface": endpoint, "Paused": "true" if wanted.paused else "false"}
            if wanted.paused:
                fields["Reason"] = wanted.reason or ""
            try:
                await self._action("QueuePause", fields)
                self._unsent.discard(operator_id)
                log.info(
                    "operator %s %s in app_queue by the router",
                    operator_id,
                    f"paused ({wanted.reason})" if wanted.paused else "unpaused",
                )
            except Exception as exc:  # noqa: BLE001 - AmiError or a lost connection: resync
                self._unsent.add(operator_id)
                log.warning("cannot pause/unpause %s in app_queue: %s", operator_id, exc)

    # -- after each AMI login -----------------------------------------------------------

    def resync(self, members: list[Message]) -> None:
        """With app_queue's members (QueueStatus's QueueMember events): who is paused
        (domain/queue_presence.resync), and rings or calls this module showed that ended
        while nobody listened."""
        self._members = {}
        in_call: set[str] = set()
        for member in members:
            self._member(member)
            if member.get("InCall") == "1" or member.get("Status") in ("6", "7"):
                in_call.add((member.get("Interface") or member.get("Location") or "").lower())
        for interface in list(self._members):
            status = self._status(interface)
            if status is None:
                continue
            held = self._held.get(status.id)
            if held is not None and held[0] is Held.QUEUE and interface not in in_call:
                del self._held[status.id]
                self.ctx.board.call_gone(status.id)
            self._resync_pause(status, self._pause_of(interface))
        self._unsent.clear()

    def _resync_pause(self, status: OperatorStatus, app: AppQueuePause) -> None:
        unsent = status.id in self._unsent
        decision = resync(status.presence, status.reason, status.pending, app, unsent=unsent)
        if decision is None:
            return
        _, what = decision
        if isinstance(what, PresenceChange):  # app_queue's
            self.ctx.board.request_state(status.id, what.presence, what.reason)
        else:  # the board's
            self._send(status, what)
