"""What a callback dispatcher does after ARI (re)connects and after each AMI login:
give back the claims it held without an attempt, settle or adopt the attempts a stopped
router or a lost connection left, and hang up legs nobody owns (exactly once: an attempt
whose dial may have happened is never dialled again, it is resolved from what Asterisk
still has)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from router.ami.callbacks import AmiDialer, ami_leg_prefix
from router.ami.protocol import Message
from router.ari.events import StasisStart
from router.ari.models import Channel
from router.config.callback_settings import CallbackSettings
from router.domain.callback_attempt import AttemptStage, outcome_after_interruption
from router.engine.call_state import CALLBACK_PREFIX
from router.engine.callbacks.ami_attempt import AmiCallbackAttempt, Followed
from router.engine.callbacks.attempt import CallbackAttempt
from router.engine.callbacks.attempt_state import Adopted, attempt_prefix, record_outcome
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext
from router.storage.models import CallbackTask

log = logging.getLogger(__name__)


class Resuming:
    """The (re)connect half of `CallbackDispatcher` (its state is the dispatcher's)."""

    ctx: CallContext
    cfg: CallbackSettings
    instance_id: str
    dialer: AmiDialer | None
    _working: dict[int, CallbackAttempt]
    _strays: list[StasisStart]
    _resumed: bool
    _ami_resumed: bool
    _start: Callable[[CallbackAttempt], None]
    _over_ami: Callable[[CallbackTask], bool]
    wake: Callable[[], None]

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


__all__ = ["Resuming"]
