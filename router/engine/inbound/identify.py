"""Who is calling: the local patient store and the CRM asked at once (each bounded by
its own timeout; router/crm/patients.py, shared with AGI mode), and, when several
patients share the phone, which one the call is about (a parent calling for the
children)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from router.crm.patients import patients_by_phone
from router.domain.calls import Phase
from router.domain.phone import CallerId
from router.domain.shared_phone import choice_prompts, chosen_patient, patient_choices
from router.engine.context import CallContext
from router.engine.facts import family_record
from router.engine.inbound.caller import Caller
from router.engine.inbound.channel import CallerChannel
from router.engine.inbound.prompts import Prompts
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)


@dataclass
class Identify:
    channel: CallerChannel
    prompts: Prompts
    caller: Caller

    @property
    def ctx(self) -> CallContext:
        return self.channel.ctx

    async def caller_record(self, found: CallerId) -> PatientRecord | None:
        """The caller's patient record (a family's, when they did not say which); the
        journey gets `identified` with how it was found."""
        data: dict[str, object] = {"status": found.status.value, "number": found.e164}
        self.ctx.recorder_update(self.channel.id, caller_e164=found.e164, phase=Phase.ROUTING.value)
        chosen: PatientRecord | None = None
        if found.e164 is not None:
            patients = await patients_by_phone(
                found.e164,
                self.ctx.store.patients,
                self.ctx.crm,
                self.ctx.settings.lookup_timeout_s,
                data,
            )
            if patients:
                chosen = await self._choose_patient(patients, data)
                data.update(
                    patient=chosen.id,
                    assigned_operator=chosen.assigned_operator_id,
                    tags=list(chosen.tags),
                )
                if chosen.id != "family":
                    self.caller.patient_id = chosen.id
                    self.ctx.recorder_update(self.channel.id, patient_id=chosen.id)
        self.channel.event("identified", data)
        return chosen

    async def adopted_record(self) -> PatientRecord | None:
        """After a restart: the record found before it (best effort)."""
        patient_id = self.caller.patient_id
        if patient_id is None:
            return None
        try:
            async with asyncio.timeout(self.ctx.settings.lookup_timeout_s):
                return await self.ctx.store.patients.get(patient_id)
        except Exception:  # noqa: BLE001 - lookup is best effort on adoption
            return None

    async def _choose_patient(
        self, patients: list[PatientRecord], data: dict[str, object]
    ) -> PatientRecord:
        """One phone, several patients: ask which one the call is about; no answer means
        "the family" (only what holds for all)."""
        if len(patients) == 1:
            return patients[0]
        # Oldest first: the order the prompt reads them out in is the order of the keys.
        offered = patient_choices(patients)
        line = self.caller.line
        self.prompts.language = line.language if line else "ru"
        settings = self.ctx.settings
        prompts = choice_prompts(settings.shared_phone_prompt, offered)
        key = await self.prompts.ask_key(prompts, settings.shared_phone_timeout_s)
        data["choice_key"] = key
        return chosen_patient(offered, key) or family_record(patients)
