"""AGI-mode calls' journeys and misses from AMI events, written like ARI mode's.

The AGI session starts following its call as soon as it has the call's row (`begin`),
tells what it learns (`update`), and that its decision reached the channel (`decided`);
a call whose journey the session ended itself (a callback, a message) is let go
(`forget`). The caller channel's events (router/ami/queue_calls.py) become journey steps,
ring attempts, the answer (which closes the patient's open callback task, as in ARI mode)
and the outcome, and a call no operator answered becomes a miss for the callback policy
(one open task per number: a repeat call merges into it).

The outcome of every call handed to AMI is settled here, at the caller's Hangup, and by
nothing else: not by the AGI session, which cannot tell a caller who hung up from a
dialplan that gave up waiting (`CR_AGI_TIMEOUT`) and sent the call on to the plain queue.
Events about a channel nobody follows yet are kept for a short while (`Recent`): under
load the AMI stream is read ahead of the AGI sessions, and a session read late would
otherwise miss its call's Hangup, and the call would never get an outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from router.agi.decision import AGI_APP
from router.ami.connection import AmiError
from router.ami.presence import AmiPresence
from router.ami.protocol import Message
from router.ami.queue_calls import (
    Connected,
    Effect,
    Ended,
    QueueCall,
    Ring,
    Step,
    follow,
    hung_up,
)
from router.config.rules import Rules
from router.domain.calls import Outcome, Phase
from router.domain.miss_target import MissTarget
from router.engine.call_state import MissFacts
from router.engine.context import CallContext
from router.engine.open_calls import open_calls_as_written
from router.storage.journal import RingAttempt
from router.storage.models import CallRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handover:
    """What the AGI session knew about the call, for its misses."""

    call_id: str
    number: str | None
    patient_id: str | None
    line: str | None
    target: MissTarget | None
    assigned: str | None
    rules: Rules


RECENT_S = 30.0  # how long an event about a channel nobody follows is kept
RECENT_MAX = 20_000  # and how many such events at most (about 4 minutes of 75 calls/s)
# A session whose first command found its channel gone: how long its Hangup (if it is
# still on its way) may take to be read before Asterisk is asked whether the channel is there
CHECK_S = 5.0
FLUSH_S = 5.0  # how long a resync waits for the journal's queued writes


class Recent:
    """AMI events about caller channels nobody follows yet, kept for `keep_s` (at most
    `max_events`): an AGI session read after its channel's events takes them (`take`)."""

    def __init__(
        self, clock: Callable[[], float], keep_s: float = RECENT_S, max_events: int = RECENT_MAX
    ) -> None:
        self._clock, self._keep_s, self._max = clock, keep_s, max_events
        self._by_channel: dict[str, list[Message]] = {}
        self._order: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def add(self, uniqueid: str, event: Message) -> None:
        # A caller's channel is its call's first: its Linkedid is its own Uniqueid. The
        # operators' channels (their Hangup, their Dial events) are not kept.
        if not uniqueid or event.get("Linkedid", uniqueid) != uniqueid:
            return
        now = self._clock()
        self._by_channel.setdefault(uniqueid, []).append(event)
        self._order.append((now, uniqueid))
        while self._order and (
            len(self._order) > self._max or self._order[0][0] < now - self._keep_s
        ):
            _, oldest = self._order.popleft()
            events = self._by_channel.get(oldest)
            if events:
                events.pop(0)
                if not events:
                    del self._by_channel[oldest]

    def take(self, uniqueid: str) -> list[Message]:
        return self._by_channel.pop(uniqueid, [])


class AmiCalls:
    def __init__(self, ctx: CallContext, clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self._clock = clock
        self._calls: dict[str, tuple[QueueCall, Handover]] = {}
        self.recent = Recent(clock)
        # Whether AMI is connected now (the composition root sets it): while it is not,
        # the AGI sessions settle their calls' outcomes themselves, as without AMI.
        self.connected: Callable[[], bool] = lambda: True
        # The operators' presence (router/ami/presence.py): told of the AGI dialplan's
        # Dial() rings; app_queue's own rings it reads from app_queue's events.
        self.presence: AmiPresence | None = None
        # Asterisk's live channels (AMI CoreShowChannels; the composition root sets it):
        # None, and a call whose Hangup was never read waits for the next login's resync.
        self.channels: Callable[[], Awaitable[list[Message]]] | None = None
        self.check_after_s = CHECK_S
        self.flush_s = FLUSH_S
        # Calls whose AGI session runs (router/agi/call.py): the session settles the call
        # or hands it over (`begin`); a resync adopting it as well gave it two outcomes.
        self._sessions: set[str] = set()
        # While a resync runs: the calls this process knew of when it began, and those
        # whose session began since (`session_started`). Whatever became of them during
        # its reads (an end whose outcome is not written yet) is not the resync's to settle.
        self._ours: set[str] | None = None
        self._due: dict[str, float] = {}  # calls to check -> when (the event loop's time)
        self._checker: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._calls)

    def begin(self, handover: Handover, *, deciding: bool = True) -> None:
        """Follow a call from its AGI session's start, before any decision (or, not
        `deciding`, from a decision that reached the channel while AMI was away): its
        outcome is settled from here on (the events already read about it first)."""
        call_id = handover.call_id
        call = QueueCall(call_id, self._clock(), deciding=deciding)
        self._calls[call_id] = (call, handover)
        for event in self.recent.take(call_id):
            self._handle(call, handover, event)

    def session_started(self, call_id: str) -> None:
        self._sessions.add(call_id)
        if self._ours is not None:
            self._ours.add(call_id)

    def session_ended(self, call_id: str) -> None:
        self._sessions.discard(call_id)

    def update(self, handover: Handover) -> None:
        """What the session learnt (the caller, the patient), for the call's miss."""
        tracked = self._calls.get(handover.call_id)
        if tracked is not None:
            self._calls[handover.call_id] = (tracked[0], handover)

    def decided(self, handover: Handover) -> None:
        """The decision reached the channel: the dialplan queues or dials as told. (A
        call whose Hangup was read first is over already: nothing to follow.)"""
        tracked = self._calls.get(handover.call_id)
        if tracked is not None:
            tracked[0].deciding = False
            self.update(handover)

    def check_gone(self, call_id: str) -> None:
        """The session's first command found the channel gone. Its Hangup may have been
        read so long before the session that `Recent` dropped it, and then none will come:
        after `check_after_s`, a call still followed whose channel Asterisk no longer lists is
        closed as its Hangup would have closed it (as by `resync`). One channel list serves
        every call due by then, and lists come at most one a window: a frozen router's
        burst of late sessions asks for Asterisk's channels once, not once a call."""
        if self.channels is None:
            return
        loop = asyncio.get_running_loop()
        self._due.setdefault(call_id, loop.time() + self.check_after_s)
        if self._checker is None or self._checker.done():
            self._checker = asyncio.create_task(self._check_due(self.channels))

    async def _check_due(self, channels: Callable[[], Awaitable[list[Message]]]) -> None:
        loop = asyncio.get_running_loop()
        while self._due:
            await asyncio.sleep(max(0.0, min(self._due.values()) - loop.time()))
            now = loop.time()
            due = [call_id for call_id, at in self._due.items() if at <= now]
            for call_id in due:
                del self._due[call_id]
            await self._check([c for c in due if c in self._calls], channels)
            if self._due:
                await asyncio.sleep(self.check_after_s)  # the window: the next list no sooner

    async def _check(
        self, call_ids: list[str], channels: Callable[[], Awaitable[list[Message]]]
    ) -> None:
        if not call_ids or not self.connected():
            return  # ended by their events, or the next login's resync settles them
        asked = self.mark()
        try:
            live = {c.get("Uniqueid", "") for c in await channels()}
        except AmiError as exc:
            log.warning("cannot list Asterisk's channels to check calls %s: %s", call_ids, exc)
            return
        for call_id in call_ids:
            if call_id not in live:
                self._close_unseen(call_id, asked)

    def _close_unseen(self, call_id: str, asked: float) -> None:
        """A followed call whose channel is gone and whose Hangup nobody read: closed as the
        Hangup would have closed it (its wait counted up to `asked`), with its miss."""
        tracked = self._calls.pop(call_id, None)
        if tracked is None:
            return
        call, handover = tracked
        self.ctx.recorder_event(call_id, "hangup_unseen", {"via": "ami channels"})
        for effect in hung_up(call, asked):
            self._apply(effect, handover)

    def close(self) -> None:
        """Stop the pending channel checks (a restart's resync settles those calls)."""
        if self._checker is not None:
            self._checker.cancel()

    def forget(self, call_id: str) -> bool:
        """The session ends the journey itself (a callback or message target, or a hang-up
        while AMI is away). False: the call was not followed (any more): its outcome is
        written already, by its Hangup or a resync, and the session must not write another."""
        return self._calls.pop(call_id, None) is not None

    def on_event(self, event: Message) -> None:
        uniqueid = event.get("Uniqueid", "")
        tracked = self._calls.get(uniqueid)
        if tracked is None:
            self.recent.add(uniqueid, event)
            return
        self._handle(*tracked, event)

    def _handle(self, call: QueueCall, handover: Handover, event: Message) -> None:
        for effect in follow(call, event, self._clock()):
            self._apply(effect, handover)
            if self.presence is not None and call.joined_at is None:
                self._dial_presence(effect, call, self.presence)
        if call.ended:
            del self._calls[call.call_id]

    def _apply(self, effect: Effect, handover: Handover) -> None:
        ctx, call_id = self.ctx, handover.call_id
        if isinstance(effect, Step):
            ctx.recorder_event(call_id, effect.kind, effect.data)
        elif isinstance(effect, Ring):
            operator = self._operator(effect.endpoint, handover.rules)
            ended = ctx.now()
            begun = ended - timedelta(milliseconds=effect.ms)
            ring = RingAttempt(
                call_id, operator, None, begun, ended, effect.result.value, effect.ms
            )
            ctx.recorder.record(ring)
            if self.presence is None and operator != effect.endpoint:
                ctx.operator_ring_result(operator, effect.result)
        elif isinstance(effect, Connected):
            operator = self._operator(effect.endpoint, handover.rules)
            ctx.recorder_update(
                call_id, phase=Phase.BRIDGED.value, operator_id=operator, answered_at=ctx.now()
            )
            ctx.recorder_event(call_id, "connected", {"operator": operator})
            ctx.reached_operator(call_id, handover.number)
        else:
            self._end(effect, handover)

    @staticmethod
    def _dial_presence(effect: Effect, call: QueueCall, presence: AmiPresence) -> None:
        """The dialplan's Dial() of the manager or named operator (before any queue)."""
        if isinstance(effect, Step) and effect.kind == "ringing":
            presence.dial_ringing(str(effect.data.get("endpoint") or ""))
        elif isinstance(effect, Ring):
            presence.dial_ring_over(effect.endpoint, effect.result)
        elif isinstance(effect, Ended) and call.connected:
            presence.dial_call_over(call.connected)

    def _end(self, ended: Ended, handover: Handover) -> None:
        ctx = self.ctx
        if ended.miss is not None:
            facts = MissFacts(
                handover.call_id,
                handover.number,
                handover.patient_id,
                handover.line,
                handover.target,
            )
            ctx.record_miss(
                facts,
                ended.miss,
                ended.waited_s,
                label=ended.label,
                rules=handover.rules,
                preferred_operator=handover.assigned,
            )
        ctx.recorder_update(
            handover.call_id,
            phase=Phase.ENDED.value,
            outcome=ended.outcome.value,
            ended_at=ctx.now(),
        )
        ctx.recorder_event(
            handover.call_id, "outcome", {"outcome": ended.outcome.value, "via": "ami"}
        )

    def mark(self) -> float:
        """The time to pass `resync` for a channel list asked for now."""
        return self._clock()

    async def resync(self, channels: list[Message], asked_at: float | None = None) -> None:
        """After an AMI (re)connect, with Asterisk's live channels (CoreShowChannels, asked
        for at `asked_at`, from `mark`): open AGI-mode calls still in Asterisk are followed
        again (a restarted router); those no longer there ended while nobody listened and
        are closed as `lost`. A followed call whose Hangup came while AMI was away ends as
        its Hangup would have ended it, with its miss (abandoned in the IVR while deciding,
        max_wait once queued): the caller is owed the same callback either way."""
        live = {c.get("Uniqueid", ""): c for c in channels}
        rules = self.ctx.rules()
        asked = self._clock() if asked_at is None else asked_at
        # Whatever becomes of these (closed just below, ended by their events or their
        # sessions during the reads) is written by whoever ends them.
        self._ours = ours = {*self._calls, *self._sessions}
        try:
            for call_id, (call, _) in list(self._calls.items()):
                if call_id not in live and call.started < asked:  # begun after the list
                    self._close_unseen(call_id, asked)
            rows = await self._open_rows()
        finally:
            self._ours = None
        for row in rows:
            if row.id in ours or row.id in self._calls:
                continue
            channel = live.get(row.id)
            # An answer the journal holds (read before a restart) makes the call answered
            # however it ended: no miss, no callback task for a patient who was served.
            answered = row.answered_at is not None
            if channel is None:
                ended = Ended(Outcome.ANSWERED if answered else Outcome.LOST)
                self._end(ended, Handover(row.id, None, None, row.line, None, None, rules))
                continue
            call = QueueCall(row.id, self._clock())
            if channel.get("Application") == "Queue":
                call.joined_at = self._clock()  # its wait so far is not known
            if channel.get("BridgeId") or answered:
                # talking already (to an operator not known here, without an answer read)
                call.connected = self._endpoint(row.operator_id, rules)
            handover = Handover(
                row.id, row.caller_e164, row.patient_id, row.line, None, None, rules
            )
            self._calls[row.id] = (call, handover)
            self.ctx.recorder_event(
                row.id, "adopted", {"via": "ami", "app": channel.get("Application")}
            )
            # Events are read while this runs: those about the call since the list (its
            # Hangup, read during the reads above) were kept for nobody.
            for event in self.recent.take(row.id):
                self._handle(call, handover, event)

    async def _open_rows(self) -> list[CallRow]:
        """The open AGI-mode calls in the database, as if the journal's queued writes had
        landed (outcomes just queued, and those of calls ended by their events just before
        the disconnect: a row read as open would be closed again, as lost; last write wins,
        two outcomes). When they do not land within `flush_s`, only the calls with writes
        still queued are left out, as in ARI mode's reconcile (`open_calls_as_written`)."""
        return await open_calls_as_written(self.ctx, AGI_APP, self.flush_s, "AGI-mode resync")

    @staticmethod
    def _endpoint(operator_id: str | None, rules: Rules) -> str:
        """The operator's phone ("" when not known)."""
        operator = rules.operator(operator_id) if operator_id else None
        return operator.endpoint if operator is not None else ""

    @staticmethod
    def _operator(endpoint: str, rules: Rules) -> str:
        """The operator whose phone this is (the endpoint itself when none is)."""
        return next((o.id for o in rules.operators if o.endpoint == endpoint), endpoint)
