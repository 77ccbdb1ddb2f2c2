"""The callback dispatcher: takes due tasks from the ledger and works each one as a
`CallbackAttempt` in the waiting room, alongside the inbound callers.

- **When.** Within the calling hours, with a free operator, and when the competition keys
  allow (`may_dispatch`, the same pure function `simulate` and the tests use). A task whose
  caller chose "keep my place" waits in the room with the caller's original place and
  priority, so it is served before anyone who arrived later, whatever those keys say.
- **Exactly once.** Tasks are claimed in the database (`claim_due`); an attempt starts
  only under our claim. On every (re)connect the dispatcher gives back the claims it held
  without an attempt and resolves the attempts it had started from what Asterisk still has.
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

from router.ami.callbacks import AmiDialer, ami_leg_prefix
from router.ami.protocol import Message
from router.ari.events import StasisStart
from router.ari.models import Channel
from router.config.callback_settings import CallbackSettings
from router.domain.calendar import next_opening
from router.domain.callback_attempt import AttemptStage, outcome_after_interruption
from router.domain.callback_schedule import CloseReason, may_dispatch
from router.domain.dispatch import Place
from router.domain.miss_target import CallbackPool, MissTarget, callback_pool
from router.domain.operators import OperatorStatus, Presence
from router.engine.call_state import CALLBACK_PREFIX
from router.engine.callbacks.ami_attempt import AmiCallbackAttempt, Followed
from router.engine.callbacks.attempt import CallbackAttempt
from router.engine.callbacks.attempt_state import (
    Adopted,
    attempt_prefix,
    calling_hours,
    record_outcome,
)
from router.engine.callbacks.due_scan import DueScan
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext
from router.engine.fallback_misses import collect_fallback_misses
from router.engine.fallback_served import collect_fallback_served
from router.storage.models import CallbackTask, PatientRecord

log = logging.getLogger(__name__)

Spawn = Callable[[Awaitable[None], str], None]
FALLBACK_SCAN_S = 60.0
PATIENT_RETRY = timedelta(seconds=30)  # a task whose patient could not be read waits this


class CallbackDispatcher:
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

    # -- after a (re)connect -----------------------------------------------------------------

    async def resume(self) -> None:
        """Give back idle claims, settle started attempts, hang up stray legs."""
        ctx = self.ctx
        repo = ctx.store.callbacks
        # Legs known to exist before the list is asked for: one being originated now may
        # be missing from it without having ended.
        known = {task_id: a.live_legs() for task_id, a in self._working.items()}
        try:
            channels = {c.id: c for c in await ctx.ari.list_channels()}
            released = await repo.release_unstarted(self.instance_id, self._working)
            # AGI-mode lines' attempts are settled from AMI's channel list (`resume_ami`)
            started = [
                t for t in await repo.attempts_under_way(self.instance_id) if not self._over_ami(t)
            ]
            foreign = [
                t
                for t in await repo.interrupted(ctx.now(), self.cfg.lease_s)
                if not self._over_ami(t)
            ]
        except Exception as exc:  # noqa: BLE001 - retried on the next connect
            log.error("callback resume skipped: %s: %s", type(exc).__name__, exc)
            return
        for task_id, legs in known.items():
            attempt = self._working.get(task_id)
            if attempt is not None:  # events lost while disconnected: tell what ended
                attempt.vanished(legs - channels.keys())
        kept: set[str] = set()
        for task in started:
            if task.id not in self._working:
                kept |= await self._settle(task, channels, adopt=True)
            else:
                kept |= {
                    c for c in channels if c.startswith(attempt_prefix(task.id, task.attempts))
                }
        for task in foreign:
            if task.claimed_by != self.instance_id:
                kept |= await self._settle(task, channels, adopt=False)
        for channel_id in channels:
            owned = any(channel_id.startswith(a.id + "-") for a in self._working.values())
            if channel_id.startswith(CALLBACK_PREFIX) and channel_id not in kept and not owned:
                await hang_up(ctx.ari, channel_id)
        self._resumed = True
        for event in self._strays:  # came before the attempt they belong to was adopted
            owner = next((a for a in self._working.values() if a.owns(event.channel.id)), None)
            if owner is not None:
                owner.queue.put_nowait(event)
            else:
                await hang_up(ctx.ari, event.channel.id)
        self._strays.clear()
        if released or started:
            log.info(
                "callbacks resumed: %d claim(s) given back, %d attempt(s) settled",
                released,
                len(started),
            )
        self.wake()

    async def _settle(
        self, task: CallbackTask, channels: dict[str, Channel], *, adopt: bool
    ) -> set[str]:
        """One interrupted attempt: carry it on when both its legs live (ours only), leave
        it when another router's legs live, else record what can be known. Returns the
        channels left alive."""
        prefix = attempt_prefix(task.id, task.attempts)
        legs = {c: ch for c, ch in channels.items() if c.startswith(prefix)}
        operator_leg = next((c for c in legs if c.startswith(prefix + "op")), None)
        patient_leg = prefix + "pt" if prefix + "pt" in legs else None
        if not adopt and legs:
            return set(legs)  # still going on another router's watch
        if operator_leg and patient_leg:
            adopted = Adopted(operator_leg, patient_leg, legs[patient_leg].state == "Up")
            self._start(
                CallbackAttempt(self.ctx, self.cfg, self.instance_id, task, adopted=adopted)
            )
            log.info("callback %s: attempt %d adopted after a restart", task.id, task.attempts)
            return {operator_leg, patient_leg}
        for leg in legs:
            await hang_up(self.ctx.ari, leg)
        await delete_bridge(self.ctx.ari, prefix.rstrip("-"))
        await self._settle_interrupted(task)
        return set()

    async def _settle_interrupted(self, task: CallbackTask) -> None:
        """An attempt with nothing left in Asterisk: the most its stage tells."""
        stage = AttemptStage(task.attempt_stage) if task.attempt_stage else None
        outcome = outcome_after_interruption(stage)
        await record_outcome(self.ctx, task, outcome, task.attempts)
        log.info("callback %s: interrupted attempt settled as %s", task.id, outcome.value)

    # -- after an AMI (re)login (AGI-mode lines) -------------------------------------------

    async def resume_ami(self) -> None:
        """After each AMI login, with Asterisk's channels (CoreShowChannels): give back
        idle claims, follow the AMI attempts whose operator leg is still up (never
        dialled again), settle those whose leg is gone by their stage."""
        if self.dialer is None:
            return
        repo = self.ctx.store.callbacks
        try:
            live = {c.get("Uniqueid", ""): c for c in await self.dialer.channels()}
            # attempts under way whose events were lost while AMI was away: told what ended
            self.dialer.resync(set(live))
            released = await repo.release_unstarted(self.instance_id, self._working)
            started = await repo.attempts_under_way(self.instance_id)
            foreign = await repo.interrupted(self.ctx.now(), self.cfg.lease_s)
        except Exception as exc:  # noqa: BLE001 - retried on the next login (AmiError too)
            log.error("callback resume (AMI) skipped: %s: %s", type(exc).__name__, exc)
            return
        settled = 0
        for task in started:
            if self._over_ami(task) and task.id not in self._working:
                settled += await self._settle_ami(task, live, adopt=True)
        for task in foreign:
            if task.claimed_by != self.instance_id and self._over_ami(task):
                settled += await self._settle_ami(task, live, adopt=False)
        self._ami_resumed = True
        if released or settled:
            log.info(
                "callbacks resumed over AMI: %d claim(s) given back, %d attempt(s) settled",
                released,
                settled,
            )
        self.wake()

    async def _settle_ami(
        self, task: CallbackTask, live: dict[str, Message], *, adopt: bool
    ) -> int:
        """One interrupted AMI attempt: followed while its operator leg is up (ours
        only; another router's is left alone), else settled by its stage."""
        assert self.dialer is not None
        prefix = ami_leg_prefix(task.id, task.attempts)
        leg = next((u for u in live if u.startswith(prefix)), None)
        if leg is not None and not adopt:
            return 0  # still going on another router's watch
        if leg is None:
            await self._settle_interrupted(task)
            return 1
        answered = bool(live[leg].get("BridgeId")) or task.attempt_stage == "bridged"
        followed = Followed(leg, answered)
        attempt = AmiCallbackAttempt(
            self.ctx, self.cfg, self.instance_id, task, self.dialer, followed=followed
        )
        self._start(attempt)
        log.info("callback %s: attempt %d followed after a restart", task.id, task.attempts)
        return 1


def _wall(ctx: CallContext, clock_at: float, now: datetime) -> datetime:
    """A clock reading of the waiting room as a date-time."""
    return now - timedelta(seconds=max(0.0, ctx.clock() - clock_at))


__all__ = ["CallbackDispatcher"]
