"""One inbound call, from arrival to its outcome, as one coroutine.

The coroutine reads only its own event queue (events for the caller's channel and the
operator legs it created, and offers from the waiting room), so it reads like the call:
answer -> identify -> walk the line's routes (menus, queues, managers) -> outcome.
"""

from __future__ import annotations

import asyncio
import logging

from router.ari import errors as ari_errors
from router.config.rules_build import Line
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, Phase, RingResult
from router.domain.phone import CallerId, normalise_caller
from router.domain.routing import RoutesTarget, Target
from router.domain.shared_phone import choice_prompts, chosen_patient, patient_choices
from router.domain.wait_resume import RulesView, resume_point, target_to_json
from router.engine.call_state import CallerGone
from router.engine.call_walk import CallWalk
from router.engine.cleanup import delete_bridge
from router.engine.facts import caller_facts, family_record, visit_soon, zone_of
from router.observability.logs import call_id_var
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)


class InboundCall(CallWalk):
    """Owns one caller channel and the operator legs it originates."""

    # -- the call -------------------------------------------------------------------------

    async def run(self) -> None:
        call_id_var.set(self.id)
        try:
            if self.resume is not None and self.resume.bridged_with:
                self._event("adopted", {"state": "bridged", "operator": self.operator_id})
                # The close may not have been written before the restart (idempotent).
                self.ctx.reached_operator(self.id, self.caller_e164)
                await self._talk(self.resume.bridged_with, already_bridged=True)
            else:
                await self._route()
        except CallerGone as gone:
            self._caller_gone(gone)
        except asyncio.CancelledError:
            # Router shutting down: leave the call to Asterisk; a restart adopts it.
            log.info("call task cancelled (router stopping); the call stays in Asterisk")
            self.ctx.room.leave(self.id)
            self.ctx.detach_all(self)
            raise
        except ari_errors.AriError as exc:
            await self._hand_to_fallback(f"{type(exc).__name__}: {exc}")
        await self._finish()

    async def _route(self) -> None:
        line = self.line
        start: Target = RoutesTarget(line.routes) if line else self._last_resort()
        if self.resume is None:
            self.record_new()
            self._event("arrived", {"did": self.did, "line": line.id if line else None})
            await self._guard(self.ctx.ari.answer(self.id))
            area = line.area_code if line else None
            caller = normalise_caller(
                self.caller_raw, region=self.ctx.settings.region, area_code=area
            )
            self.caller_e164 = caller.e164
            record = await self._identify(caller, line)
        else:
            record = await self._patient(self.patient_id)
        now = self.ctx.now()
        self.facts = caller_facts(self.rules, line, record, now)
        self.visit = visit_soon(record, now, zone_of(self.rules, line))
        self.language = self.facts.language
        self.assigned_operator = self.facts.assigned_operator
        if self.resume is not None:
            resumed = self._resume_wait(start)
            if resumed is None:
                return
            start = resumed
            ring = self.resume.ringing
            if ring is not None and await self._ring_adopted(ring) is RingResult.ANSWERED:
                await self._talk_then_done()
                return
        await self._walk(start)

    def _resume_wait(self, routes: Target) -> Target | None:
        """Adopted after a restart: the caller goes on waiting for what they waited for,
        keeping their place, relaxed steps, budget left, answers and the operators
        already tried. None: nothing left to wait for (they asked to be called back)."""
        assert self.resume is not None
        rules = self.rules
        view = RulesView(rules.queues.keys(), rules.menus.keys(), rules.routes.keys())
        point = resume_point(self.resume.wait, self.ctx.now(), view)
        for menu, key in point.answers.items():
            self.facts = self.facts.with_answer(menu, key)
        self.menu_path = list(point.menu_path)
        if point.place_s is not None:
            self.waiting_since = self.ctx.clock() - point.place_s
        if point.target is not None:  # else a new wait starts when the walk reaches one
            self.resumed_started = self.ctx.clock() - point.waited_s
            self.resumed_for = point.target
        data: dict[str, object] = {"state": "waiting", "tried": list(self.tried)}
        if point.target is not None:
            data["for"] = target_to_json(point.target)
        data.update(waited_s=round(point.waited_s, 1), why=point.why or None)
        if point.place_s is not None:
            data["place_s"] = round(point.place_s, 1)
        self._event("adopted", data)
        if point.kept_place:
            self.outcome = Outcome.CALLBACK  # their task is in the ledger already
            return None
        return point.target or routes

    async def _identify(self, caller: CallerId, line: Line | None) -> PatientRecord | None:
        data: dict[str, object] = {"status": caller.status.value, "number": caller.e164}
        self.ctx.recorder_update(self.id, caller_e164=caller.e164, phase=Phase.ROUTING.value)
        chosen: PatientRecord | None = None
        if caller.e164 is not None:
            # Local store and CRM are asked at once; each is bounded by its own timeout.
            local, crm = await asyncio.gather(
                self._local_lookup(caller.e164, data), self._crm_lookup(caller.e164, data)
            )
            patients = crm if crm else local  # the CRM is fresher when it knows the caller
            if patients:
                data.update(source="crm" if crm else "local", patients_on_number=len(patients))
                chosen = await self._choose_patient(patients, line, data)
                data.update(
                    patient=chosen.id,
                    assigned_operator=chosen.assigned_operator_id,
                    tags=list(chosen.tags),
                )
                if chosen.id != "family":
                    self.patient_id = chosen.id
                    self.ctx.recorder_update(self.id, patient_id=chosen.id)
        self._event("identified", data)
        return chosen

    async def _choose_patient(
        self, patients: list[PatientRecord], line: Line | None, data: dict[str, object]
    ) -> PatientRecord:
        """One phone, several patients (a parent calling for the children): ask which one
        the call is about; no answer means "the family" (only what holds for all)."""
        if len(patients) == 1:
            return patients[0]
        # Oldest first: the order the prompt reads them out in is the order of the keys.
        offered = patient_choices(patients)
        self.language = line.language if line else "ru"
        prompts = choice_prompts(self.ctx.settings.shared_phone_prompt, offered)
        key = await self._ask_key(prompts, self.ctx.settings.shared_phone_timeout_s)
        data["choice_key"] = key
        return chosen_patient(offered, key) or family_record(patients)

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

    async def _patient(self, patient_id: str | None) -> PatientRecord | None:
        if patient_id is None:
            return None
        try:
            async with asyncio.timeout(self.ctx.settings.lookup_timeout_s):
                return await self.ctx.store.patients.get(patient_id)
        except Exception:  # noqa: BLE001 - lookup is best effort on adoption
            return None

    # -- endings ----------------------------------------------------------------------------

    def _caller_gone(self, gone: CallerGone) -> None:
        self.ctx.room.leave(self.id)
        if gone.asterisk_shutdown:
            # A conversation Asterisk cut stays `answered` (it happened); the journey
            # says how it ended. A caller not yet through has `failed` and is a miss,
            # `no_operator` (nobody could take them; they did not give up): the callback
            # policy calls them back like any caller nobody could take.
            self._event("asterisk_shutdown", {})
            if self.outcome is None:
                self.outcome = Outcome.FAILED
                self._note_miss(MissReason.NO_OPERATOR, self.ctx.clock() - self.started_at)
            return
        if self.outcome is not None:
            return
        self.outcome = Outcome.ABANDONED
        self._event("abandoned", {"tried": list(self.tried), "menus": list(self.menu_path)})
        waited = self.ctx.clock() - self.started_at
        # The miss goes to the ledger even when the policy creates no task (misdials).
        where = "abandoned_in_ivr" if self.waiting_since is None else "abandoned"
        self._note_miss(MissReason.ABANDONED, waited, where)

    async def _hand_to_fallback(self, reason: str) -> None:
        """ARI failed mid-call: give the caller to the dialplan's fallback, never drop them."""
        log.error("routing failed (%s); handing the call to the dialplan fallback", reason)
        self._event("fallback", {"reason": reason})
        self.ctx.room.leave(self.id)
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
        if self.ringing_operator is not None:  # an adopted ring the call never got to
            self.ctx.board.release(self.ringing_operator)
        outcome = self.outcome or Outcome.ABANDONED
        self.ctx.recorder_update(
            self.id, phase=Phase.ENDED.value, outcome=outcome.value, ended_at=self.ctx.now()
        )
        # What the IVR learned travels with the outcome (the screen pop reads the journey).
        learned = {"patient": self.patient_id, "menus": list(self.menu_path)}
        self._event("outcome", {"outcome": outcome.value, "operator": self.operator_id, **learned})
        self.ctx.detach_all(self)
        self._release_pending_offers()
        log.info("call ended: %s (operator %s)", outcome.value, self.operator_id or "-")
        # Last: retried with backoff when Asterisk is slow, which must not hold the outcome.
        if self._bridge_ready or self._bridge_asked or self.resume is not None:
            # A create whose reply never came may still be carried out after our DELETE.
            unsure = self._bridge_asked and not self._bridge_ready
            await delete_bridge(self.ctx.ari, self.bridge_id, create_in_flight=unsure)
