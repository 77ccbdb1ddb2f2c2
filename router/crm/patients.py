"""Who the caller is, from both sources at once: the local patient store and the CRM.

Each is bounded by its own timeout and a failure of either costs only its answer, never
the call; the CRM is fresher when it knows the number. Used by both modes: AGI mode's call handler
(router/agi/call.py) and ARI mode's Identify (router/engine/inbound/identify.py).
"""

from __future__ import annotations

import asyncio
import logging

from router.crm.client import CrmClient
from router.storage.models import PatientRecord
from router.storage.patients import PatientRepository

log = logging.getLogger(__name__)


async def patients_by_phone(
    e164: str,
    store: PatientRepository,
    crm: CrmClient | None,
    timeout_s: float,
    data: dict[str, object],
) -> list[PatientRecord]:
    """The patients on this number (several: a shared phone); `data` gets what the
    journey's `identified` step says about the lookups (`source`, `crm`, `crm_ms`,
    `lookup` on a failure)."""
    local, remote = await asyncio.gather(
        _local(e164, store, timeout_s, data), _crm(e164, crm, data)
    )
    patients = remote or local
    if patients:
        data.update(source="crm" if remote else "local", patients_on_number=len(patients))
    return patients


async def _local(
    e164: str, store: PatientRepository, timeout_s: float, data: dict[str, object]
) -> list[PatientRecord]:
    try:
        async with asyncio.timeout(timeout_s):
            return await store.find_by_phone(e164)
    except Exception as exc:  # noqa: BLE001 - a broken database must not cost the caller the call
        log.warning("patient lookup failed: %s: %s", type(exc).__name__, exc)
        data["lookup"] = f"failed: {type(exc).__name__}"
        return []


async def _crm(e164: str, crm: CrmClient | None, data: dict[str, object]) -> list[PatientRecord]:
    if crm is None:
        return []
    answer = await crm.lookup(e164)
    data["crm"] = answer.status.value + (" (cached)" if answer.cached else "")
    data["crm_ms"] = answer.ms
    return list(answer.patients)
