"""One inbound call, from arrival to its outcome, as one coroutine.

The coroutine reads only its own event queue (events for the caller's channel and the
operator legs it created), so it reads like the call itself:
answer -> identify -> ring operators one by one -> bridge -> wait for the end.

Asterisk facts this relies on (shared/notes/ari-facts.md):
- `ChannelDestroyed` is the only end-of-leg event that always comes; an originate that
  times out produces no Dial NOANSWER, only ChannelDestroyed with cause 19.
- An originated leg enters Stasis (StasisStart) only when answered.
- A channel command waits behind a running channel playback, so the caller waits on
  bridge MOH (which blocks nothing) while operators ring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from router.ari import errors as ari_errors
from router.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    StasisStart,
)
from router.domain.calls import Outcome, Phase, RingResult, ring_result_from_cause
from router.domain.operators import OperatorStatus
from router.domain.phone import CallerId, normalise_caller
from router.engine.call_state import CallerGone, Resume, channel_of, is_terminal
from router.engine.cleanup import delete_bridge, hang_up
from router.engine.context import CallContext, ChannelGone
from router.logs import call_id_var
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

SHUTDOWN_CAUSE = 4  # soft hangup cause Asterisk uses when it shuts down or restarts


class InboundCall:
    """Owns one caller channel and the operator legs it originates."""

    def __init__(
        self,
        ctx: CallContext,
        call_id: str,
        did: str,
        caller_raw: str,
        resume: Resume | None = None,
    ) -> None:
        self.ctx = ctx
        self.id = call_id
        self.did = did
        self.caller_raw = caller_raw
        self.queue: asyncio.Queue[Event | ChannelGone] = asyncio.Queue(maxsize=1024)
        self.resume = resume
        self.tried: list[str] = list(resume.tried) if resume else []
        self.bridge_id = f"cr-{call_id}"
        self.operator_channel: str | None = resume.bridged_with if resume else None
        self.operator_id: str | None = resume.operator_id if resume else None
        self.patient_id: str | None = resume.patient_id if resume else None
        # Only a validated number reaches an operator's display; set once per call.
        self.caller_e164: str | None = resume.caller_e164 if resume else None
        self.assigned_operator: str | None = None
        self.outcome: Outcome | None = None
        self._bridge_ready = False
        self._live_legs: set[str] = set()
        self._handed_to_fallback = False

    # -- the call -------------------------------------------------------------------------

    async def run(self) -> None:
        call_id_var.set(self.id)
        try:
            if self.resume is not None and self.resume.bridged_with:
                self._event("adopted", {"state": "bridged", "operator": self.operator_id})
                await self._talk(self.resume.bridged_with, already_bridged=True)
            else:
                await self._route()
        except CallerGone as gone:
            self._caller_gone(gone)
        except asyncio.CancelledError:
            # Router shutting down: leave the call to Asterisk; a restart adopts it.
            log.info("call task cancelled (router stopping); the call stays in Asterisk")
            self.ctx.detach_all(self)
            raise
        except ari_errors.AriError as exc:
            await self._hand_to_fallback(f"{type(exc).__name__}: {exc}")
        await self._finish()

    async def _route(self) -> None:
        if self.resume is None:
            self.ctx.recorder_create(self)
            self._event("arrived", {"did": self.did})
            await self._guard(self.ctx.ari.answer(self.id))
            caller = normalise_caller(self.caller_raw, region=self.ctx.settings.region)
            self.caller_e164 = caller.e164
            await self._identify(caller)
        else:
            self._event("adopted", {"state": "waiting", "tried": self.tried})
            self.assigned_operator = await self._assigned_of(self.patient_id)
        await self._hold()
        while True:
            candidates = self.ctx.board.candidates(
                assigned_id=self.assigned_operator, exclude=self.tried
            )
            if not candidates:
                await self._no_operator()
                return
            status = candidates[0]
            result = await self._ring(status)
            if result is RingResult.ANSWERED:
                assert self.operator_channel is not None
                await self._talk(self.operator_channel)
                return

    async def _identify(self, caller: CallerId) -> None:
        data: dict[str, object] = {"status": caller.status.value, "number": caller.e164}
        self.ctx.recorder_update(self.id, caller_e164=caller.e164, phase=Phase.ROUTING.value)
        if caller.e164 is not None:
            # Local store and CRM are asked at once; each is bounded by its own timeout.
            local, crm = await asyncio.gather(
                self._local_lookup(caller.e164, data), self._crm_lookup(caller.e164, data)
            )
            patients = crm if crm else local  # the CRM is fresher when it knows the caller
            if patients:
                # Several patients on one phone: prefer one with an assigned operator
                # (the choice prompt comes with the personalised IVR).
                chosen = next((p for p in patients if p.assigned_operator_id), patients[0])
                self.patient_id = chosen.id
                self.assigned_operator = chosen.assigned_operator_id
                data.update(
                    patient=chosen.id,
                    source="crm" if crm else "local",
                    assigned_operator=chosen.assigned_operator_id,
                    tags=list(chosen.tags),
                    patients_on_number=len(patients),
                )
                self.ctx.recorder_update(self.id, patient_id=chosen.id)
        self._event("identified", data)

    async def _local_lookup(self, e164: str, data: dict[str, object]) -> list[PatientRecord]:
        try:
            async with asyncio.timeout(self.ctx.settings.lookup_timeout_s):
                return await self.ctx.store.patients.find_by_phone(e164)
        except Exception as exc:  # noqa: BLE001 - a broken database must not cost the caller the call
            log.warning("patient lookup failed: %s: %s", type(exc).__name__, exc)
            data["lookup"] = f"failed: {type(exc).__name__}"
            return []

    async def _crm_lookup(self, e164: str, data: dict[str, object]) -> list[PatientRecord]:
        if self.ctx.crm is None:
            return []
        answer = await self.ctx.crm.lookup(e164)
        data["crm"] = answer.status.value + (" (cached)" if answer.cached else "")
        data["crm_ms"] = answer.ms
        return list(answer.patients)

    async def _assigned_of(self, patient_id: str | None) -> str | None:
        if patient_id is None:
            return None
        try:
            async with asyncio.timeout(self.ctx.settings.lookup_timeout_s):
                record = await self.ctx.store.patients.get(patient_id)
        except Exception:  # noqa: BLE001 - lookup is best effort on adoption
            return None
        return record.assigned_operator_id if record else None

    async def _hold(self) -> None:
        """Put the caller in the call's bridge with music while operators ring."""
        ari = self.ctx.ari
        members: tuple[str, ...] = ()
        if self.resume is not None:  # adopted after a restart: the bridge may be there
            try:
                members = (await ari.get_bridge(self.bridge_id)).channel_ids
                self._bridge_ready = True
            except ari_errors.AriNotFound:
                pass
        if not self._bridge_ready:
            await ari.create_bridge(self.bridge_id, "mixing", name=self.bridge_id)
            self._bridge_ready = True
        if self.id not in members:
            await self._add_to_bridge(self.id)
        await self._guard(ari.start_bridge_moh(self.bridge_id, self.ctx.settings.moh_class))

    async def _add_to_bridge(self, channel_id: str) -> None:
        try:
            await self.ctx.ari.add_channel(self.bridge_id, [channel_id])
        except ari_errors.AriNotFound:
            if channel_id == self.id:
                raise CallerGone() from None
            raise

    async def _ring(self, status: OperatorStatus) -> RingResult:
        op = status.operator
        leg = f"{self.id}-op{len(self.tried) + 1}"
        self.tried.append(op.id)
        self.ctx.board.reserve(op.id)
        self.ctx.attach(leg, self)
        self._live_legs.add(leg)
        started = self.ctx.clock()
        self._event("ringing", {"operator": op.id, "endpoint": op.endpoint, "leg": leg})
        self.ctx.recorder_update(self.id, tried_operators=list(self.tried), operator_channel_id=leg)
        result = await self._ring_leg(leg, op.endpoint)
        elapsed_ms = int((self.ctx.clock() - started) * 1000)
        self.ctx.recorder_ring(self, op.id, leg, result, elapsed_ms)
        self._event("ring_result", {"operator": op.id, "result": result.value, "ms": elapsed_ms})
        if result is RingResult.ANSWERED:
            self.operator_channel = leg
            self.operator_id = op.id
        else:
            self._live_legs.discard(leg)
            self.ctx.detach(leg)
            self.ctx.board.ring_failed(op.id)
        self.ctx.operator_ring_result(op.id, result)
        if result is RingResult.CANCELLED:
            raise CallerGone()
        return result

    async def _ring_leg(self, leg: str, endpoint: str) -> RingResult:
        settings = self.ctx.settings
        if await self._in_use_elsewhere(endpoint):
            return RingResult.BUSY
        try:
            await self.ctx.ari.originate(
                endpoint,
                channel_id=leg,
                app=settings.app,
                app_args=["operator", self.id],
                timeout_s=settings.ring_timeout_s,
                caller_id=self.caller_e164,
            )
        except (ari_errors.AriServerError, ari_errors.AriBadRequest, ari_errors.AriNotFound):
            return RingResult.UNAVAILABLE  # 500 "Allocation failed": unregistered/unreachable
        # Asterisk's own timeout ends the leg; ours is only a safety net.
        deadline = settings.ring_timeout_s + 10
        try:
            async with asyncio.timeout(deadline):
                while True:
                    event = await self.queue.get()
                    if self._is_caller_end(event):
                        await self._hangup(leg)
                        return RingResult.CANCELLED
                    if channel_of(event) != leg:
                        continue
                    if isinstance(event, StasisStart):
                        return RingResult.ANSWERED
                    if isinstance(event, (ChannelDestroyed, ChannelGone)):
                        return ring_result_from_cause(getattr(event, "cause", None))
        except TimeoutError:
            await self._hangup(leg)
            return RingResult.NO_ANSWER

    async def _in_use_elsewhere(self, endpoint: str) -> bool:
        """Is the phone on a call the router did not place (internal or outbound)?

        The operator is reserved for us, so any channel on the endpoint is someone else's.
        """
        tech, _, resource = endpoint.partition("/")
        try:
            found = await self.ctx.ari.get_endpoint(tech, resource, request_timeout=1.0)
        except ari_errors.AriError:
            return False  # unknown: let the originate decide
        return bool(found.channel_ids)

    async def _talk(self, leg: str, already_bridged: bool = False) -> None:
        ari = self.ctx.ari
        op_id = self.operator_id
        if not already_bridged:
            if op_id:
                self.ctx.board.connected(op_id)
            try:
                await ari.stop_bridge_moh(self.bridge_id)
            except ari_errors.AriError:
                pass
            await self._add_to_bridge(leg)
            self.ctx.recorder_update(
                self.id,
                phase=Phase.BRIDGED.value,
                operator_id=op_id,
                answered_at=self.ctx.now(),
                bridge_id=self.bridge_id,
                operator_channel_id=leg,
            )
            self._event("connected", {"operator": op_id})
        self._live_legs.add(leg)
        self.ctx.attach(leg, self)
        self.outcome = Outcome.ANSWERED
        ended_by = await self._wait_either_end(leg)
        self._event("ended", {"by": ended_by})
        if op_id:
            self.ctx.operator_call_finished(op_id)
        # Whoever is still there is hung up by _finish.

    async def _wait_either_end(self, leg: str) -> str:
        while True:
            event = await self.queue.get()
            if self._is_caller_end(event):
                return "caller"
            if channel_of(event) == leg and is_terminal(event):
                self._live_legs.discard(leg)
                return "operator"

    async def _no_operator(self) -> None:
        self.outcome = Outcome.NO_OPERATOR
        self._event("no_operator", {"tried": self.tried})
        ari = self.ctx.ari
        try:
            await ari.stop_bridge_moh(self.bridge_id)
            await ari.remove_channel(self.bridge_id, self.id)
        except ari_errors.AriNotFound:
            raise CallerGone() from None
        except ari_errors.AriError:
            pass
        playback = await self._guard(
            ari.play(self.id, [self.ctx.settings.no_operator_prompt], lang="ru")
        )
        try:
            async with asyncio.timeout(30):
                while True:
                    event = await self.queue.get()
                    if self._is_caller_end(event):
                        return
                    if isinstance(event, PlaybackFinished) and event.playback.id == playback.id:
                        return
        except TimeoutError:
            return

    # -- endings ----------------------------------------------------------------------------

    def _caller_gone(self, gone: CallerGone) -> None:
        if self.outcome is Outcome.ANSWERED:
            return
        if gone.asterisk_shutdown:
            self.outcome = Outcome.FAILED
            self._event("asterisk_shutdown", {})
        elif self.outcome is None:
            self.outcome = Outcome.ABANDONED
            self._event("abandoned", {"tried": self.tried})

    async def _hand_to_fallback(self, reason: str) -> None:
        """ARI failed mid-call: give the caller to the dialplan's fallback, never drop them."""
        log.error("routing failed (%s); handing the call to the dialplan fallback", reason)
        self._event("fallback", {"reason": reason})
        self.outcome = self.outcome or Outcome.FAILED
        try:
            if self._bridge_ready:
                await self.ctx.ari.remove_channel(self.bridge_id, self.id)
        except ari_errors.AriError:
            pass
        try:
            await self.ctx.ari.continue_in_dialplan(
                self.id, self.ctx.settings.fallback_context, self.did or "s", 1
            )
            self._handed_to_fallback = True
        except ari_errors.AriError as exc:
            log.error("fallback failed too: %s", exc)

    async def _finish(self) -> None:
        for leg in list(self._live_legs):
            await self._hangup(leg)
        if not self._handed_to_fallback:
            await self._hangup(self.id)
        if self._bridge_ready or self.resume is not None:
            await delete_bridge(self.ctx.ari, self.bridge_id)
        outcome = self.outcome or Outcome.ABANDONED
        self.ctx.recorder_update(
            self.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=self.ctx.now()
        )
        self._event("outcome", {"outcome": outcome.value, "operator": self.operator_id})
        self.ctx.detach_all(self)
        log.info("call ended: %s (operator %s)", outcome.value, self.operator_id or "-")

    # -- helpers ------------------------------------------------------------------------------

    def _event(self, kind: str, data: dict[str, object]) -> None:
        self.ctx.recorder_event(self.id, kind, data)

    def _is_caller_end(self, event: Event | ChannelGone) -> bool:
        if channel_of(event) != self.id or not is_terminal(event):
            return False
        if isinstance(event, ChannelHangupRequest) and event.soft and event.cause == SHUTDOWN_CAUSE:
            raise CallerGone(event.cause, asterisk_shutdown=True)
        return True

    async def _guard(self, request: Awaitable[T]) -> T:
        """Await an ARI request on the caller's channel; 404 means the caller is gone."""
        try:
            return await request
        except ari_errors.AriNotFound:
            raise CallerGone() from None

    async def _hangup(self, channel_id: str) -> None:
        await hang_up(self.ctx.ari, channel_id)
        self._live_legs.discard(channel_id)
