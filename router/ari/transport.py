"""One ARI HTTP request: URL building, authentication, timeout, logging, error mapping."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from router.ari.connection import basic_auth_header, parse_base_url, safe_url
from router.ari.errors import AriError, AriUnavailable, error_for_status
from router.ari.models import JsonObject

logger = logging.getLogger("router.ari.client")

T = TypeVar("T")


def path_of(segments: Sequence[str]) -> str:
    """``("channels", "1.2", "play")`` -> ``/channels/1.2/play``, each segment escaped."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def reply_message(raw: bytes) -> str:
    """Asterisk's error text: ``{"message": ...}`` (or ``{"error": ...}``), else the body."""
    body = raw.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(body)
    except ValueError:
        return body[:500]
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return body[:500]


class AriHttp:
    """Sends ARI requests; the credentials stay in a header that is never logged."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        request_timeout: float,
    ) -> None:
        self._session = session
        self._base = parse_base_url(base_url)
        self._headers = {"Authorization": basic_auth_header(username, password)}
        self.request_timeout = request_timeout
        self.request_count = 0  # every request sent, for benchmarks

    def __repr__(self) -> str:
        return f"AriHttp({safe_url(self._base)!r})"

    async def request(
        self,
        method: str,
        segments: Sequence[str],
        *,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
        request_timeout: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON (None for an empty reply)."""
        path = path_of(segments)
        url = self._base.with_path(self._base.raw_path + path, encoded=True)
        seconds = self.request_timeout if request_timeout is None else request_timeout
        query = {k: str(v) for k, v in params.items()} if params else None
        self.request_count += 1
        started = time.monotonic()
        try:
            async with self._session.request(
                method,
                url,
                params=query,
                json=body,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            logger.debug("ARI %s %s %s: no reply within %g s", method, path, query or "", seconds)
            raise AriUnavailable(0, f"no reply within {seconds:g} s", method, path) from None
        except aiohttp.ClientError as exc:
            # str() of aiohttp's errors names host and port, never the request headers.
            message = f"{type(exc).__name__}: {exc}"
            logger.debug("ARI %s %s %s: %s", method, path, query or "", message)
            raise AriUnavailable(0, message, method, path) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("ARI %s %s %s -> %d (%.1f ms)", method, path, query or "", status, elapsed_ms)
        if status >= 300:
            raise error_for_status(status, reply_message(raw), method, path)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise AriError(status, "reply is not JSON", method, path) from None

    async def fetch(
        self,
        parse: Callable[[JsonObject], T],
        method: str,
        segments: Sequence[str],
        **kwargs: Any,
    ) -> T:
        """A request whose reply is one ARI object."""
        data = await self.request(method, segments, **kwargs)
        try:
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            return parse(data)
        except (ValueError, TypeError) as exc:
            raise AriError(200, f"unexpected reply: {exc}", method, path_of(segments)) from None

    async def fetch_list(
        self,
        parse: Callable[[JsonObject], T],
        segments: Sequence[str],
        request_timeout: float | None,
    ) -> list[T]:
        """A GET whose reply is a list of ARI objects."""
        data = await self.request("GET", segments, request_timeout=request_timeout)
        try:
            if not isinstance(data, list):
                raise ValueError(f"expected a JSON list, got {type(data).__name__}")
            return [parse(item) for item in data]
        except (ValueError, TypeError) as exc:
            raise AriError(200, f"unexpected reply: {exc}", "GET", path_of(segments)) from None
