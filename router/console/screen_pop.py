"""Screen pop for outside systems: when an operator's phone starts ringing, POST the
card's context to `console.webhook_url`, so a clinic's CRM/MIS can open the record.

Never in the call's way: the board listener only puts the operator's id in a bounded
queue (full: the pop is dropped with a warning); one task sends, each POST bounded by
`webhook_timeout_ms`. The body is signed: header `X-Clinic-Router-Signature:
sha256=<hex HMAC-SHA256 of the body with the shared secret>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from router.console.live import LiveCall, LiveSource, queue_label
from router.domain.operators import OperatorStatus, Presence
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Clinic-Router-Signature"
QUEUE_SIZE = 100
# The ring is reserved on the board a moment before the call names the operator it
# rings (the same event-loop turn or the next): how long to look for that call.
FIND_CALL_S = 1.0

Patients = Callable[[str], Awaitable[list[PatientRecord]]]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pop_body(operator_id: str, call: LiveCall, patients: list[PatientRecord]) -> dict[str, Any]:
    """What the CRM receives: the card's context (whole number: it looks the patient up)."""
    target = call.miss_target
    return {
        "event": "ringing",
        "at": datetime.now(UTC).isoformat(),
        "operator": operator_id,
        "call_id": call.id,
        "caller": call.caller_e164,
        "patient_id": call.patient_id,
        "patients": [
            {
                "id": p.id,
                "name": p.name,
                "assigned_operator": p.assigned_operator_id,
                "tags": list(p.tags),
            }
            for p in patients
        ],
        "line": target.line if target else None,
        "queue": queue_label(target),
        "pressed": list(call.menu_path),
    }


class ScreenPop:
    def __init__(
        self,
        url: str,
        secret: str,
        timeout_s: float,
        source: LiveSource,
        patients: Patients,
    ) -> None:
        self._url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._source = source
        self._patients = patients
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.sent = 0
        self.failed = 0
        source.board.add_listener(self._on_change)

    def _on_change(self, status: OperatorStatus) -> None:
        if status.presence is not Presence.RINGING:
            return
        try:
            self._queue.put_nowait(status.id)
        except asyncio.QueueFull:
            log.warning("screen pop dropped: %d pops waiting for the webhook", QUEUE_SIZE)

    async def run(self) -> None:
        """Until cancelled: one POST per ring, in order."""
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                operator_id = await self._queue.get()
                call = await self._ringing_call(operator_id)
                if call is not None:
                    await self._send(session, operator_id, call)

    async def _ringing_call(self, operator_id: str) -> LiveCall | None:
        deadline = time.monotonic() + FIND_CALL_S
        while time.monotonic() < deadline:
            call = self._source.ringing_call(operator_id)
            if call is not None:
                return call
            await asyncio.sleep(0.02)
        return None

    async def _send(self, session: aiohttp.ClientSession, operator_id: str, call: LiveCall) -> None:
        patients: list[PatientRecord] = []
        try:
            if call.caller_e164:
                patients = list(await self._patients(call.caller_e164))
        except Exception as exc:  # noqa: BLE001 - costs this pop its card, not every later pop
            name = type(exc).__name__
            log.warning("screen pop without the patient card: lookup failed (%s)", name)
        body = json.dumps(pop_body(operator_id, call, patients), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
        }
        try:
            async with session.post(self._url, data=body, headers=headers) as resp:
                ok = resp.status < 300
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok = False
            log.warning("screen pop to the webhook failed: %s", type(exc).__name__)
        if ok:
            self.sent += 1
        else:
            self.failed += 1
