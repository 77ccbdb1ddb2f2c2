"""What every call coroutine shares: adapters, the operator board and the journey writer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from router.ari.client import AriClient
from router.crm.client import CrmClient
from router.domain.callback_policy import MissReason
from router.domain.callback_schedule import CloseReason, plan_miss
from router.domain.calls import RingResult
from router.engine.board import OperatorBoard
from router.engine.call_state import MissFacts
from router.engine.recorder import Kind, Recorder
from router.storage.journal import (
    CallbackRing,
    CallEvent,
    CallUpdate,
    CloseCallbacks,
    NewCall,
    RingAttempt,
)
from router.storage.models import CallRow, MissInput

if TYPE_CHECKING:
    from router.config.rules import Rules
    from router.domain.dispatch import Place
    from router.engine.waiting_room import WaitingRoom
    from router.storage.store import Store

log = logging.getLogger(__name__)

# How long a new caller may wait, before the answer, for their call's row to be written:
# a few ms on a healthy database (docs/benchmarks.md); a slow one costs the caller no more
# than this, and the row is then written behind the call like the rest.
ARRIVAL_WRITE_S = 0.5


@dataclass(frozen=True, slots=True)
class EngineSettings:
    app: str
    ring_timeout_s: int = 15
    wrap_up_s: float = 0.0
    pause_after_no_answers: int = 3
    lookup_timeout_s: float = 0.5
    region: str = "RU"
    moh_class: str = "default"
    fallback_context: str = "clinic-router-fallback"
    no_operator_prompt: str = "sound:vm-nobodyavail"
    # Calls to a number no line lists (or whose routes found nothing): any operator, and
    # how long to wait for one. 0 keeps the caller waiting not at all.
    unrouted_max_wait_s: int = 0
    ageing_s: float = 60.0
    shared_phone_prompt: str = "clinic-which-patient"
    shared_phone_timeout_s: int = 5
    keep_place_key: str | None = None  # None: waiting callers are not offered a callback
    keep_place_prompt: str = "clinic-press-5-callback"


class EventSink(Protocol):
    """Whatever owns channels and reads their events: a call, or a callback attempt."""

    id: str
    queue: asyncio.Queue[Any]


class ChannelRouter(Protocol):
    def attach(self, channel_id: str, call: EventSink) -> None: ...
    def detach(self, channel_id: str) -> None: ...
    def detach_all(self, call: EventSink) -> None: ...


class CallContext:
    """Dependencies of a call, passed in by the engine (nothing global)."""

    def __init__(
        self,
        *,
        ari: AriClient,
        store: Store,
        board: OperatorBoard,
        recorder: Recorder,
        settings: EngineSettings,
        clock: Callable[[], float],
        rules_version: Callable[[], str | None],
        rules: Callable[[], Rules],
        room: WaitingRoom,
        crm: CrmClient | None = None,
    ) -> None:
        self.ari = ari
        self.store = store
        self.board = board
        self.recorder = recorder
        self.settings = settings
        self.channels: ChannelRouter | None = None  # the engine registers itself
        self.clock = clock
        self.rules_version = rules_version
        self.rules = rules
        self.room = room
        self.crm: CrmClient | None = crm
        # "Keep my place": hands the caller's place to the callback dispatcher (None: off).
        self.keep_place: Callable[[str, Place], None] | None = None

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    # -- channel ownership --------------------------------------------------------------------

    def _router(self) -> ChannelRouter:
        if self.channels is None:
            raise RuntimeError("no engine owns this context")
        return self.channels

    def attach(self, channel_id: str, call: EventSink) -> None:
        self._router().attach(channel_id, call)

    def detach(self, channel_id: str) -> None:
        self._router().detach(channel_id)

    def detach_all(self, call: EventSink) -> None:
        self._router().detach_all(call)

    # -- operators -------------------------------------------------------------------------

    def operator_ring_result(self, operator_id: str, result: RingResult) -> None:
        """Presence policy after every ring: too many rings let ring out pause the operator."""
        if self.board.ring_result(operator_id, result, self.settings.pause_after_no_answers):
            log.warning(
                "operator %s paused: %d calls in a row not answered",
                operator_id,
                self.settings.pause_after_no_answers,
            )

    def operator_call_finished(self, operator_id: str, wrap_up_s: float | None = None) -> None:
        """Wrap-up: the queue's, else the operator's own, else the router's default."""
        loop = asyncio.get_running_loop()
        if wrap_up_s is None and self.board.has(operator_id):
            wrap_up_s = self.board.get(operator_id).operator.wrap_up_s
        wrap = self.settings.wrap_up_s if wrap_up_s is None else wrap_up_s
        self.board.finished(operator_id, wrap, loop.call_later)

    def record_miss(
        self,
        miss: MissFacts,
        reason: MissReason,
        waited_s: float,
        *,
        label: str | None = None,
        rules: Rules | None = None,
        place_at: datetime | None = None,
        callback_number: str | None = None,
        preferred_operator: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A call no operator answered: the callback policy of `rules` (the call's own
        version; the current one by default) decides, and the miss goes into the journey
        and the callback ledger (one open task per number; idempotent per call, so a
        retried write, or reconcile recording it again, cannot count twice). `at`: when
        it was missed, if not now (a call the dialplan fallback served)."""
        rules = rules or self.rules()
        policy = rules.callback
        now = at or self.now()
        plan = plan_miss(
            policy,
            reason,
            waited_s=waited_s,
            missed_at=now,
            calendar=rules.calendars.get(policy.calendar) if policy.calendar else None,
            number_known=miss.number is not None,
        )
        label = label or str(reason)
        due = plan.due_at
        self.recorder_event(
            miss.call_id,
            "miss",
            {
                "reason": label,
                "waited_s": round(waited_s, 1),
                "task": plan.create_task,
                "why": plan.why,
                "due": due.isoformat() if due else None,
            },
        )
        row = MissInput(
            call_id=miss.call_id,
            line=miss.line,
            number_e164=miss.number,
            patient_id=miss.patient_id,
            reason=label,
            waited_s=waited_s,
            missed_at=now,
            due_at=due,
            create_task=plan.create_task,
            priority_raise=plan.priority_raise,
            place_at=place_at,
            keep_place=place_at is not None,
            callback_number=callback_number,
            preferred_operator_id=preferred_operator,
            target=miss.target,
        )
        self.recorder.submit(
            f"miss {miss.call_id}", lambda: self.store.callbacks.record_miss(row), Kind.MISS
        )

    def reached_operator(self, call_id: str, number: str | None) -> None:
        """The patient got through: their open callback task is done (auto-close)."""
        at = self.now()
        if number is None:
            return
        self.recorder.record(CloseCallbacks(number, CloseReason.REACHED_OPERATOR, at, call_id))

    # -- journey (write-behind) ------------------------------------------------------------

    def recorder_create(
        self, call_id: str, caller_raw: str, did: str, line: str | None, e164: str | None = None
    ) -> None:
        self.recorder.record(NewCall(self._new_row(call_id, caller_raw, did, line, e164)))

    async def record_arrival(
        self, call_id: str, caller_raw: str, did: str, line: str | None, e164: str | None
    ) -> bool:
        """The call's first row, written before the caller hears anything (at most
        `ARRIVAL_WRITE_S`): batched, it waited up to `journal_batch_s`, and a `kill -9`
        meanwhile (a call with no menu rings its operator within 0.1 s) left the
        restarted router no call to close if the caller hung up while it was dead: no
        call in the API, no miss. The number goes in too, so that such a caller is a miss
        with a callback task. False: not written in time (it stays queued)."""
        row = self._new_row(call_id, caller_raw, did, line, e164)
        return await self.recorder.record_now(NewCall(row), ARRIVAL_WRITE_S)

    def _new_row(
        self, call_id: str, caller_raw: str, did: str, line: str | None, e164: str | None
    ) -> CallRow:
        return CallRow(
            id=call_id,
            app=self.settings.app,
            caller_raw=caller_raw[:80],
            caller_e164=e164,
            did=did,
            started_at=self.now(),
            phase="new",
            # The line the number belongs to: reports group by it, the replay routes by it.
            line=line,
            rules_version=self.rules_version(),
        )

    def recorder_update(self, call_id: str, **fields: object) -> None:
        self.recorder.record(CallUpdate(call_id, fields))

    def recorder_event(self, call_id: str, kind: str, data: dict[str, object]) -> None:
        self.recorder.record(CallEvent(call_id, kind, data, self.now()))

    def recorder_ring(
        self, call_id: str, operator_id: str, leg: str, result: RingResult, elapsed_ms: int
    ) -> None:
        ended = self.now()
        begun = ended - timedelta(milliseconds=elapsed_ms)
        self.recorder.record(
            RingAttempt(call_id, operator_id, leg, begun, ended, result.value, elapsed_ms)
        )

    def recorder_callback_ring(
        self,
        task_id: int,
        attempt: int,
        party: str,
        operator_id: str,
        leg: str,
        result: RingResult,
        elapsed_ms: int,
    ) -> None:
        ended = self.now()
        begun = ended - timedelta(milliseconds=elapsed_ms)
        self.recorder.record(
            CallbackRing(
                task_id, attempt, party, operator_id, leg, begun, ended, result.value, elapsed_ms
            )
        )
