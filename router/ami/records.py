"""AGI-mode calls' journeys and misses from AMI events, written like ARI mode's.

The AGI session hands each decided call over (`track`); from then on the caller channel's
events (router/ami/queue_calls.py) become journey steps, ring attempts, the answer (which
closes the patient's open callback task, as in ARI mode) and the outcome, and a call no
operator answered becomes a miss for the callback policy (one open task per number: a
repeat call merges into it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from router.agi.decision import AGI_APP
from router.ami.presence import AmiPresence
from router.ami.protocol import Message
from router.ami.queue_calls import Connected, Effect, Ended, QueueCall, Ring, Step, follow
from router.config.rules import Rules
from router.domain.calls import Outcome, Phase
from router.domain.miss_target import MissTarget
from router.engine.call_state import MissFacts
from router.engine.context import CallContext
from router.storage.journal import RingAttempt

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


class AmiCalls:
    def __init__(self, ctx: CallContext, clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self._clock = clock
        self._calls: dict[str, tuple[QueueCall, Handover]] = {}
        # The operators' presence (router/ami/presence.py): told of the AGI dialplan's
        # Dial() rings; app_queue's own rings it reads from app_queue's events.
        self.presence: AmiPresence | None = None

    def __len__(self) -> int:
        return len(self._calls)

    def track(self, handover: Handover) -> None:
        self._calls[handover.call_id] = (QueueCall(handover.call_id, self._clock()), handover)

    def on_event(self, event: Message) -> None:
        tracked = self._calls.get(event.get("Uniqueid", ""))
        if tracked is None:
            return
        call, handover = tracked
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

    async def resync(self, channels: list[Message]) -> None:
        """After an AMI (re)connect, with Asterisk's live channels (CoreShowChannels):
        open AGI-mode calls still in Asterisk are followed again (a restarted router);
        those no longer there ended while nobody listened and are closed as `lost`."""
        live = {c.get("Uniqueid", ""): c for c in channels}
        rules = self.ctx.rules()
        for row in await self.ctx.store.calls.open_calls(AGI_APP):
            if row.id in self._calls:
                continue
            channel = live.get(row.id)
            if channel is None:
                self._end(
                    Ended(Outcome.LOST), Handover(row.id, None, None, row.line, None, None, rules)
                )
                continue
            call = QueueCall(row.id, self._clock())
            if channel.get("Application") == "Queue":
                call.joined_at = self._clock()  # its wait so far is not known
            if channel.get("BridgeId"):
                call.connected = ""  # talking already, to an operator not known here
            self._calls[row.id] = (
                call,
                Handover(row.id, row.caller_e164, row.patient_id, row.line, None, None, rules),
            )
            self.ctx.recorder_event(
                row.id, "adopted", {"via": "ami", "app": channel.get("Application")}
            )

    @staticmethod
    def _operator(endpoint: str, rules: Rules) -> str:
        """The operator whose phone this is (the endpoint itself when none is)."""
        return next((o.id for o in rules.operators if o.endpoint == endpoint), endpoint)
