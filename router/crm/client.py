"""Patient lookup in a CRM over HTTP, bounded so that a caller never waits for it.

One request per lookup with a short timeout (hundreds of ms), no retries while a caller
waits, answers cached (found and not-found separately), and a circuit breaker that stops
asking a CRM that keeps failing. Every failure becomes a status, never an exception: the
engine then uses the local profile, or treats the caller as unknown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal
from urllib.parse import quote

import aiohttp

from router.crm.breaker import CircuitBreaker
from router.crm.mapping import records_from_answer
from router.storage.models import PatientRecord

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
CACHE_SIZE = 10_000


class LookupStatus(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    ERROR = "error"
    CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True)
class CrmConfig:
    url: str  # template: https://crm.example/api/patients?phone={phone}
    phone_format: Literal["e164", "digits", "national"] = "e164"
    auth: Literal["none", "header", "bearer", "basic"] = "none"
    header_name: str = "X-Api-Key"
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    timeout_ms: int = 400
    cache_found_s: float = 300.0
    cache_not_found_s: float = 60.0
    breaker_failures: int = 5
    breaker_open_s: float = 30.0
    list_path: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CrmAnswer:
    status: LookupStatus
    patients: tuple[PatientRecord, ...] = ()
    cached: bool = False
    ms: float = 0.0


def format_phone(e164: str, style: str) -> str:
    digits = e164.lstrip("+")
    if style == "digits":
        return digits
    if style == "national" and digits.startswith("7") and len(digits) == 11:
        return "8" + digits[1:]  # the Russian trunk-prefix form many clinic systems store
    return e164


class CrmClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: CrmConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.config = config
        self._clock = clock
        self.breaker = CircuitBreaker(
            clock, failures=config.breaker_failures, open_s=config.breaker_open_s
        )
        self._cache: dict[str, tuple[float, CrmAnswer]] = {}
        self.requests = 0

    def _headers(self) -> dict[str, str]:
        cfg = self.config
        headers = {"Accept": "application/json"}
        if cfg.auth == "header" and cfg.secret:
            headers[cfg.header_name] = cfg.secret
        elif cfg.auth == "bearer" and cfg.secret:
            headers["Authorization"] = f"Bearer {cfg.secret}"
        elif cfg.auth == "basic":
            raw = f"{cfg.username or ''}:{cfg.secret or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return headers

    async def lookup(self, e164: str) -> CrmAnswer:
        started = self._clock()
        hit = self._cache.get(e164)
        if hit is not None and hit[0] > started:
            return CrmAnswer(hit[1].status, hit[1].patients, cached=True)
        if not self.breaker.allow():
            return CrmAnswer(LookupStatus.CIRCUIT_OPEN)
        answer = await self._ask(e164)
        elapsed = (self._clock() - started) * 1000
        answer = CrmAnswer(answer.status, answer.patients, ms=round(elapsed, 1))
        if answer.status in (LookupStatus.FOUND, LookupStatus.NOT_FOUND):
            self.breaker.success()
            ttl = (
                self.config.cache_found_s
                if answer.status is LookupStatus.FOUND
                else self.config.cache_not_found_s
            )
            self._remember(e164, answer, started + ttl)
        else:
            self.breaker.failure()
        return answer

    def _remember(self, e164: str, answer: CrmAnswer, expires: float) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))  # oldest entry first
        self._cache[e164] = (expires, answer)

    async def _ask(self, e164: str) -> CrmAnswer:
        cfg = self.config
        url = cfg.url.replace("{phone}", quote(format_phone(e164, cfg.phone_format), safe=""))
        self.requests += 1
        try:
            async with asyncio.timeout(cfg.timeout_ms / 1000):
                async with self._session.get(url, headers=self._headers()) as resp:
                    if resp.status == 404:
                        return CrmAnswer(LookupStatus.NOT_FOUND)
                    if resp.status != 200:
                        log.warning("CRM answered HTTP %d", resp.status)
                        return CrmAnswer(LookupStatus.ERROR)
                    body = await resp.content.read(MAX_BODY + 1)
        except TimeoutError:
            log.warning("CRM did not answer within %d ms", cfg.timeout_ms)
            return CrmAnswer(LookupStatus.TIMEOUT)
        except aiohttp.ClientError as exc:
            log.warning("CRM unreachable: %s", type(exc).__name__)
            return CrmAnswer(LookupStatus.ERROR)
        if len(body) > MAX_BODY:
            log.warning("CRM answer larger than %d bytes ignored", MAX_BODY)
            return CrmAnswer(LookupStatus.ERROR)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            log.warning("CRM answered something that is not JSON")
            return CrmAnswer(LookupStatus.ERROR)
        patients = records_from_answer(data, e164, cfg.fields, cfg.list_path)
        status = LookupStatus.FOUND if patients else LookupStatus.NOT_FOUND
        return CrmAnswer(status, tuple(patients))
