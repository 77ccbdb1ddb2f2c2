"""The callback dispatcher: takes due tasks from the ledger and works each one as a
`CallbackAttempt` in the waiting room, alongside the inbound callers.

- **When.** Within the calling hours, with a free operator, and when the competition keys
  allow (`may_dispatch`, the same pure function `simulate` and the tests use). A task whose
  caller chose "keep my place" waits in the room with the caller's original place and
  priority, so it is served before anyone who arrived later, whatever those keys say.
- **Exactly once.** Tasks are claimed in the database (`claim_due`); an attempt starts
  only under our claim. On every (re)connect the dispatcher gives back the claims it held
  without an attempt and resolves the attempts it had started from what Asterisk still has
  (`resume.py`).
- **Over ARI or AMI.** A task of a line in `mode: agi` is dialled over AMI when the router
  has an AMI connection (`use_ami`): the same claim, place, operator and outcome, other
  rings (`AmiCallbackAttempt`), resolved after a restart from AMI's channel list
  (`resume_ami`). Each kind is dispatched only while its connection is up and resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from router.ami.callbacks import AmiDialer
from router.ari.events import StasisStart
from router.config.callback_settings import CallbackSettings
from router.domain.calendar import next_opening
from router.domain.callback_schedule import CloseReason, may_dispatch
from router.domain.dispatch import Place
from router.domain.miss_target import CallbackPool, MissTarget, callback_pool
from router.domain.operators import OperatorStatus, Presence
from router.engine.call_state import CALLBACK_PREFIX
from router.engine.callbacks.ami_attempt import AmiCallbackAttempt
from router.engine.callbacks.attempt import CallbackAttempt
from router.engine.callbacks.attempt_state import (
    calling_hours,
)
from router.engine.callbacks.due_scan import DueScan
from router.engine.callbacks.resume import Resuming
from router.engine.cleanup import hang_up
from router.engine.context import CallContext
from router.engine.fallback_misses import collect_fallback_misses
from router.engine.fallback_served import collect_fallback_served
from router.storage.models import CallbackTask, PatientRecord

log = logging.getLogger(__name__)

Spawn = Callable[[Awaitable[None], str], None]
FALLBACK_SCAN_S = 60.0
PATIENT_RETRY = timedelta(seconds=30)  # a task whose patient could not be read waits this


class CallbackDispatcher(Resuming):
    def __init__(
        self,
        ctx: CallContext,
        cfg: CallbackSettings,
        instance_id: str,
        spawn: Spawn,
        is_connected: Callable[[], bool],
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.instance_id = instance_id
        self._spawn = spawn
        self._is_connected = is_connected
        self._working: dict[int, CallbackAttempt] = {}
        self._kept: dict[str, Place] = {}  # number -> the place a caller left to be called back
        self._wake = asyncio.Event()
        self._resumed = False
        self._strays: list[StasisStart] = []
        self._next_fallback_scan = ctx.clock() + FALLBACK_SCAN_S  # connect reads them first
        self._patients_unreadable = False
        self._pools: dict[tuple[MissTarget | None, str | None], CallbackPool] = {}
        self._pools_version: str | None = None
        self.dialer: AmiDialer | None = None  # AGI-mode lines' tasks, when set (`use_ami`)
        self._ami_resumed = False
        self._scan = DueScan(ctx.store.callbacks)
        ctx.board.add_listener(self._on_operator_change)
        ctx.store.callbacks.add_task_listener(self.wake)  # a new task: look now, not at poll_s

    # -- what the engine tells us ----------------------------------------------------------

    def keep_place(self, number: str, place: Place) -> None:
        """A caller left the line to be called back: their task takes this place."""
        self._kept[number] = place
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def use_ami(self, dialer: AmiDialer) -> None:
        """Dial the tasks of lines in `mode: agi` over AMI from now on (`resume_ami`
        first, after each AMI login)."""
        self.dialer = dialer

    def _over_ami(self, task: CallbackTask) -> bool:
        if self.dialer is None:
            return False
        line = self.ctx.rules().line(task.line)
        return line is not None and line.mode == "agi"

    def _ready(self, task: CallbackTask) -> bool:
        """The task's connection is up and resumed (without AMI, `run` ticks only when
        ARI is)."""
        if self._over_ami(task):
            return self._ami_ready()
        return self.dialer is None or self._ari_ready()

    def _ari_ready(self) -> bool:
        return self._resumed and self._is_connected()

    def _ami_ready(self) -> bool:
        return self.dialer is not None and self._ami_resumed and self.dialer.connected

    def _on_operator_change(self, status: OperatorStatus) -> None:
        if status.presence is Presence.AVAILABLE:
            self.wake()  # a due task may take them

    def operators_held(self) -> frozenset[str]:
        """Operators the attempts running here ring or talk with (`operator_held`)."""
        held = (a.operator_held() for a in self._working.values())
        return frozenset(op for op in held if op is not None)

    def stray(self, event: StasisStart) -> None:
        """A callback leg entered Stasis that no attempt here owns (answered just after a
        restart, before `resume` adopted it, or left over): settled once resumed."""
        if self._resumed:
            self._spawn(hang_up(self.ctx.ari, event.channel.id), f"stray {event.channel.id}")
        else:
            self._strays.append(event)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.cfg.poll_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not (self._ari_ready() or self._ami_ready()):
                continue
            if self._ari_ready() and self.ctx.clock() >= self._next_fallback_scan:
                # A router that froze and recovered never reconnects: read the calls the
                # dialplan fallback served meanwhile on a timer too, not only on connect.
                self._next_fallback_scan = self.ctx.clock() + FALLBACK_SCAN_S
                self._spawn(self._collect_fallback_misses(), "fallback misses")
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end dispatch
                log.error("callback dispatch: %s: %s", type(exc).__name__, exc)

    async def _collect_fallback_misses(self) -> None:
        await collect_fallback_misses(self.ctx)
        await collect_fallback_served(self.ctx)  # its answered calls, journaled

    async def tick(self) -> None:
        """Claim the due tasks a free operator may take, and put them in the waiting room."""
        ctx = self.ctx
        free = {s.id for s in ctx.board.available()}
        if not free and not self._kept:
            return  # nobody could take a task: no claim (a write) on every poll
        now = ctx.now()
        chosen = await self._look(now, free)
        if not chosen:
            return  # due tasks wait for operators who may take them: nothing claimed
        tasks = await ctx.store.callbacks.claim_due(
            now, self.instance_id, len(chosen), lease_s=self.cfg.lease_s, among=chosen
        )
        for task in tasks:
            await self._consider(task, now, len(free), chosen[task.id])

    async def _look(self, now: datetime, free: set[str]) -> dict[int, Place]:
        """The due tasks to claim, read page by page (`DueScan`) until each free operator
        has one and every kept place not being worked is found."""
        left, chosen = set(free), dict[int, Place]()
        working = {
            n for a in self._working.values() for n in (a.task.dial_number, a.task.number_e164)
        }
        kept = set(self._kept) - working  # put in the room whoever is free: looked for too

        def pick(page: list[CallbackTask]) -> bool:
            self._choose(page, left, chosen, kept)
            return not left and not kept

        await self._scan.scan(now, pick, lease_s=self.cfg.lease_s)
        return chosen

    def _choose(
        self, due: list[CallbackTask], left: set[str], chosen: dict[int, Place], kept: set[str]
    ) -> None:
        """Adds to `chosen` the due tasks in dispatch order that a free operator of `left`
        may take (one operator each, taken out of `left`), and kept places (their numbers
        taken out of `kept`): a busy branch's task does not hold up another branch's."""
        for task in due:
            if task.id in self._working:
                continue  # ours already (a claim taken over after a lease by ourselves)
            if not self._ready(task):
                continue  # its connection (ARI, or AMI for a line in AGI mode) is down
            place_kept = self._kept.get(task.dial_number) or self._kept.get(task.number_e164)
            place = place_kept or self._place_of(task)
            takers = place.eligible & left
            if place_kept is not None or takers:
                chosen[task.id] = place
                left -= {min(takers)} if takers else set()
                kept -= {task.dial_number, task.number_e164}

    async def _consider(self, task: CallbackTask, now: datetime, free: int, place: Place) -> None:
        ctx = self.ctx
        repo = ctx.store.callbacks
        try:
            patient = await self._patient(task)
        except Exception as exc:  # noqa: BLE001 - any failure: do-not-call is unknown
            # Fail closed: a patient who asked not to be called must never be dialled
            # because their record could not be read. Retried later; said once.
            if not self._patients_unreadable:
                log.error(
                    "callbacks held: patient records unreadable (%s: %s)", type(exc).__name__, exc
                )
            self._patients_unreadable = True
            await repo.release(task.id, self.instance_id, now + PATIENT_RETRY)
            return
        if self._patients_unreadable:
            log.info("callbacks resumed: patient records readable again")
            self._patients_unreadable = False
        if patient is not None and patient.do_not_call:
            await repo.close(task.id, CloseReason.DO_NOT_CALL, now, by=self.instance_id)
            return
        policy = ctx.rules().callback
        calendar = calling_hours(ctx, task.line)
        # Preferred: whom the task names, else the patient's manager, else whom they last
        # spoke to.
        preferred = task.preferred_operator_id
        if patient is not None:
            last = patient.last_contact.operator_id if patient.last_contact else None
            preferred = preferred or patient.assigned_operator_id or last
        if preferred and place.preferred is None:
            place = replace(place, preferred=preferred)
        oldest = ctx.room.oldest_since(exclude_prefix=CALLBACK_PREFIX)
        verdict = may_dispatch(
            policy,
            now=now,
            calendar=calendar,
            free_operators=max(free, 1) if task.keep_place else free,
            oldest_inbound_since=None if oldest is None else _wall(ctx, oldest, now),
            task_place=task.first_missed_at,
            keep_place=task.keep_place,
        )
        if not verdict.allowed:
            # Closed: back at the next opening; otherwise due as it was, and looked at
            # again on the next tick.
            opening = next_opening(calendar, now) if calendar is not None else None
            due = opening if opening is not None and opening > now else task.due_at
            await repo.release(task.id, self.instance_id, due)
            log.debug("callback %s not now: %s", task.id, verdict.why)
            return
        attempt: CallbackAttempt
        if self.dialer is not None and self._over_ami(task):
            attempt = AmiCallbackAttempt(
                ctx, self.cfg, self.instance_id, task, self.dialer, place=place
            )
        else:
            attempt = CallbackAttempt(ctx, self.cfg, self.instance_id, task, place=place)
        self._start(attempt)

    def _place_of(self, task: CallbackTask) -> Place:
        """A kept place (after a restart: from the task) or a place from now on, for the
        operators who could have taken the missed call (`callback_pool`)."""
        ctx = self.ctx
        since = ctx.clock()
        if task.keep_place:
            since -= max(0.0, (ctx.now() - task.first_missed_at).total_seconds())
        pool = self._pool(task)
        online = {s.id for s in ctx.board.statuses() if s.presence is not Presence.OFFLINE}
        return Place(
            since, task.priority, pool.eligible & online, pool.preferred, pool.strategy, pool.skills
        )

    def _pool(self, task: CallbackTask) -> CallbackPool:
        """`callback_pool` of the task under the current rules; many tasks share a target,
        and every tick with a free operator looks at every due task: kept per rules."""
        rules = self.ctx.rules()
        line = rules.line(task.target.line if task.target and task.target.line else task.line)
        branch = line.branch if line else None
        if self._pools_version != rules.version:
            self._pools, self._pools_version = {}, rules.version
        key = (task.target, branch)
        if key not in self._pools:
            self._pools[key] = callback_pool(
                task.target, line_branch=branch, operators=rules.operators, queues=rules.queues
            )
        return self._pools[key]

    def _start(self, attempt: CallbackAttempt) -> None:
        self._working[attempt.task.id] = attempt

        async def work() -> None:
            try:
                await attempt.run()
            finally:
                self._working.pop(attempt.task.id, None)
                if attempt.outcome is not None:
                    for number in (attempt.task.number_e164, attempt.task.dial_number):
                        self._kept.pop(number, None)
                self.wake()

        self._spawn(work(), f"callback {attempt.task.id}")

    async def _patient(self, task: CallbackTask) -> PatientRecord | None:
        """The task's patient (None: no patient known); a failed read raises."""
        if task.patient_id is None:
            return None
        return await self.ctx.store.patients.get(task.patient_id)


def _wall(ctx: CallContext, clock_at: float, now: datetime) -> datetime:
    """A clock reading of the waiting room as a date-time."""
    return now - timedelta(seconds=max(0.0, ctx.clock() - clock_at))


__all__ = ["CallbackDispatcher"]
