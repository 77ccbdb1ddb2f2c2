"""The CRM adapter against a real HTTP server on 127.0.0.1:0 that can be slow, fail or lie."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from router.crm.breaker import BreakerState
from router.crm.client import CrmClient, CrmConfig, LookupStatus, format_phone

SECRET = "crm-secret-token-42"


class FakeCrm:
    def __init__(self) -> None:
        self.mode = "ok"
        self.hits = 0
        self.headers: list[dict[str, str]] = []
        self.phones: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        self.headers.append(dict(request.headers))
        self.phones.append(request.query.get("phone", ""))
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "404":
            return web.Response(status=404)
        if self.mode == "garbage":
            return web.Response(body=b"\xff\xfe<html>not json", content_type="text/html")
        if self.mode == "odd_shape":
            return web.json_response({"data": "nothing", "items": [1, None, {"no_id": True}]})
        return web.json_response(
            {
                "items": [
                    {
                        "id": 17,
                        "fullName": "Анна Петрова",
                        "manager": {"login": "op1002"},
                        "tags": ["dms", "vip"],
                        "phones": "8 916 000-00-01; garbage",
                    }
                ]
            }
        )


@pytest.fixture
async def crm() -> AsyncIterator[tuple[FakeCrm, str, aiohttp.ClientSession]]:
    fake = FakeCrm()
    app = web.Application()
    app.router.add_get("/patients", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield fake, f"http://127.0.0.1:{port}/patients?phone={{phone}}", session
    await runner.cleanup()


def config(url: str, **kw: Any) -> CrmConfig:
    base: dict[str, Any] = dict(
        url=url,
        auth="bearer",
        secret=SECRET,
        timeout_ms=300,
        list_path="items",
        fields={
            "patient_id": "id",
            "name": "fullName",
            "assigned_operator": "manager.login",
            "tags": "tags",
            "phones": "phones",
        },
    )
    base.update(kw)
    return CrmConfig(**base)


async def test_found_patient_is_mapped(crm) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    client = CrmClient(session, config(url, phone_format="national"))
    answer = await client.lookup("+79161234567")
    assert answer.status is LookupStatus.FOUND
    [patient] = answer.patients
    assert (patient.id, patient.name, patient.assigned_operator_id) == (
        "17",
        "Анна Петрова",
        "op1002",
    )
    assert patient.tags == ("dms", "vip")
    assert patient.phones == ("+79161234567", "+79160000001")
    assert fake.phones == ["89161234567"]
    assert fake.headers[0]["Authorization"] == f"Bearer {SECRET}"


async def test_slow_crm_never_delays_the_caller_beyond_the_timeout(crm) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    fake.mode = "slow"
    client = CrmClient(session, config(url, timeout_ms=300))
    started = time.monotonic()
    answer = await client.lookup("+79161234567")
    elapsed = time.monotonic() - started
    assert answer.status is LookupStatus.TIMEOUT
    assert elapsed < 0.6  # bounded by the 300 ms timeout (not the server's 2 s)
    assert fake.hits == 1  # no retry while a caller waits


@pytest.mark.parametrize("mode", ["garbage", "500"])
async def test_failures_become_statuses(crm, mode: str) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    fake.mode = mode
    answer = await CrmClient(session, config(url)).lookup("+79161234567")
    assert answer.status is LookupStatus.ERROR and answer.patients == ()


async def test_odd_json_is_an_unknown_caller(crm) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    fake.mode = "odd_shape"
    answer = await CrmClient(session, config(url)).lookup("+79161234567")
    assert answer.status is LookupStatus.NOT_FOUND


async def test_answers_are_cached_found_and_not_found(crm) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    now = [100.0]
    client = CrmClient(
        session, config(url, cache_found_s=300, cache_not_found_s=60), clock=lambda: now[0]
    )
    assert (await client.lookup("+79161234567")).status is LookupStatus.FOUND
    again = await client.lookup("+79161234567")
    assert again.cached and fake.hits == 1
    fake.mode = "404"
    assert (await client.lookup("+79990000000")).status is LookupStatus.NOT_FOUND
    assert (await client.lookup("+79990000000")).cached
    now[0] += 61  # not-found expires first
    await client.lookup("+79990000000")
    assert fake.hits == 3
    assert (await client.lookup("+79161234567")).cached


async def test_breaker_opens_after_failures_and_recovers(crm) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    now = [0.0]
    client = CrmClient(
        session, config(url, breaker_failures=3, breaker_open_s=30), clock=lambda: now[0]
    )
    fake.mode = "500"
    for _ in range(3):
        await client.lookup("+79161234567")
    assert client.breaker.state is BreakerState.OPEN
    answer = await client.lookup("+79161234568")
    assert answer.status is LookupStatus.CIRCUIT_OPEN and fake.hits == 3
    now[0] += 31
    fake.mode = "ok"
    assert (await client.lookup("+79161234569")).status is LookupStatus.FOUND
    assert state_of(client) is BreakerState.CLOSED  # re-read: the breaker closed meanwhile


async def test_unreachable_crm(crm) -> None:  # type: ignore[no-untyped-def]
    _, _, session = crm
    client = CrmClient(session, config("http://127.0.0.1:9/patients?phone={phone}"))
    assert (await client.lookup("+79161234567")).status is LookupStatus.ERROR


async def test_secret_never_logged(crm, caplog) -> None:  # type: ignore[no-untyped-def]
    fake, url, session = crm
    caplog.set_level(logging.DEBUG)
    client = CrmClient(session, config(url, auth="basic", username="router"))
    fake.mode = "500"
    await client.lookup("+79161234567")
    assert SECRET not in caplog.text and SECRET not in repr(client.config)
    assert fake.headers[0]["Authorization"].startswith("Basic ")


def test_phone_formats() -> None:
    assert format_phone("+79161234567", "e164") == "+79161234567"
    assert format_phone("+79161234567", "digits") == "79161234567"
    assert format_phone("+79161234567", "national") == "89161234567"


def state_of(client: CrmClient) -> BreakerState:
    return client.breaker.state
