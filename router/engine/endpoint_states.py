"""Asterisk's own view of the operators' phones, for `GET /api/operators`.

The router's presence (available, paused, ...) says what the operator chose; whether the
phone can ring at all is Asterisk's to say: an endpoint that does not exist (a typo in
the rules), or one that is `offline` (not registered, failing qualify). `GET /endpoints`
lists every endpoint with its state in one request, so this polls it.
"""

from __future__ import annotations

import asyncio
import logging

from router.ari.client import AriClient
from router.ari.errors import AriError
from router.doctor.checks import endpoint_resource

log = logging.getLogger(__name__)
POLL_S = 10.0
MISSING = "missing"  # Asterisk has no such endpoint


class EndpointStates:
    """The latest `GET /endpoints` answer: `state(endpoint)` is `online`, `offline`,
    `unknown` (no qualify), `missing`, or None while Asterisk has not answered."""

    def __init__(self, ari: AriClient, poll_s: float = POLL_S) -> None:
        self._ari = ari
        self._poll_s = poll_s
        self._states: dict[str, str] | None = None

    def state(self, endpoint: str) -> str | None:
        if self._states is None:
            return None
        tech, name = endpoint_resource(endpoint)
        return self._states.get(f"{tech.upper()}/{name}", MISSING)

    async def refresh(self) -> None:
        """Ask Asterisk once; on failure the states are unknown (None), not stale."""
        try:
            found = await self._ari.list_endpoints()
        except AriError as exc:
            if self._states is not None:
                log.debug("endpoint states unavailable: %s", exc)
            self._states = None
            return
        self._states = {f"{e.technology.upper()}/{e.resource}": e.state or "unknown" for e in found}

    async def run(self) -> None:
        """Poll until cancelled (the composition root owns the task)."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._poll_s)
