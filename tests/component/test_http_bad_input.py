"""Hostile input on a real aiohttp server (127.0.0.1:0): always a 4xx, never a 500 or a
traceback in the log, at most one log line per request."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_support import TOKEN, serving

from router.storage import Store

ERROR_KEYS = {"status", "error_id", "message", "details"}
DEEP = "[" * 50_000  # under the 64 KiB body limit, far over the JSON decoder's recursion


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    try:
        async with serving(store) as url:
            yield url
    finally:
        await store.close()


async def send(method: str, url: str, **kw: Any) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, **kw) as resp,
    ):
        return resp.status, resp.content_type, await resp.text()


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # The access log (one line per request, off in the router: `access_log=None`) aside.
    return [r for r in caplog.records if r.name != "aiohttp.access"]


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """At most one line, and no traceback."""
    records = logged(caplog)
    assert len(records) <= 1, [r.getMessage() for r in records]
    assert all(r.exc_info is None and r.exc_text is None for r in records)
    assert "Traceback" not in caplog.text


def assert_error(got: tuple[int, str, str], status: int, error_id: str) -> dict[str, Any]:
    code, content_type, text = got
    assert (code, content_type) == (status, "application/json"), text[:300]
    body: dict[str, Any] = json.loads(text)
    assert set(body) == ERROR_KEYS
    assert (body["status"], body["error_id"]) == (status, error_id)
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/operators/op1/state"), ("POST", "/api/callbacks/1/cancel")],
)
async def test_deeply_nested_json_body_is_a_400(
    base: str, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    got = await send(method, base + path, data=DEEP, headers={"Content-Type": "application/json"})
    body = assert_error(got, 400, "bad_json")
    assert "nested" in body["message"]
    assert_quiet(caplog)


async def test_json_nested_within_the_bound_still_reads(base: str) -> None:
    # 20 levels is well inside the bound: the handler gets to judge the content (422).
    nested = {"state": "paused", "reason": "x", "extra": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}
    got = await send("PUT", base + "/api/operators/op1/state", json=nested)
    assert_error(got, 404, "operator_not_found")


@pytest.mark.parametrize(
    ("name", "value"),
    [("since", "0001-01-01T00:00:00+05:00"), ("before", "9999-12-31T23:59:59-05:00")],
)
async def test_a_time_that_overflows_in_utc_is_a_400(
    base: str, name: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    params = {name: value, **({"before_id": "x"} if name == "before" else {})}
    got = await send("GET", base + "/api/calls", params=params)
    body = assert_error(got, 400, "bad_parameter")
    assert name in body["message"]
    assert_quiet(caplog)


@pytest.mark.parametrize("where", ["header", "url"])
async def test_oversized_request_line_or_header_is_one_line(
    base: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    # No token: the request is refused before anyone could authenticate, so an attacker
    # must not be able to fill the log with tracebacks either.
    caplog.set_level(logging.INFO)
    big = "x" * 9_000
    # The oversized header carries a token: the log line must not quote it.
    headers = {"Authorization": f"Bearer {TOKEN}{big}"} if where == "header" else {}
    url = base + "/api/calls" + (f"?q={big}" if where == "url" else "")
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        status = resp.status
    assert 400 <= status < 500
    assert_quiet(caplog)
    (record,) = logged(caplog)
    assert record.levelno == logging.WARNING
    assert "over 8190 bytes" in record.getMessage()
    assert TOKEN not in caplog.text
