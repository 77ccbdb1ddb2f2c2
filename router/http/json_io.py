"""JSON in and out of the API: the response every handler returns, the one reader of
request bodies, and query parameters checked into the one error shape (`ApiError`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from router.http.errors import ApiError


def json_default(value: object) -> str:
    """For `json.dumps`: date-times as ISO 8601 (with their offset), anything else as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False, default=json_default),
        content_type="application/json",
    )


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """Query parameter `name` as an int in `lo..hi`, `default` when absent; else a 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, "bad_parameter", f"{name} must be between {lo} and {hi}")
    return value


def time_param(request: web.Request, name: str) -> datetime | None:
    """Query parameter `name` as an ISO 8601 time with an offset, in UTC; else a 400."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        # A "+" left unescaped in a query string arrives as a space.
        raise ApiError(
            400,
            "bad_parameter",
            f"{name} must be an ISO 8601 time with a UTC offset, e.g. 2026-11-23T09:00:00Z "
            "(write + as %2B)",
        )
    try:
        # Year 1 east of UTC or year 9999 west of it has no UTC time: the date type overflows.
        return value.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            400, "bad_parameter", f"{name} is out of range: it must fall in years 1 to 9999 UTC"
        ) from None


MAX_JSON_DEPTH = 32  # far more than any body the API takes; the size is client_max_size


async def json_object(
    request: web.Request, example: str, *, optional: bool = False
) -> dict[str, Any]:
    """The request's body as a JSON object, or a 400 naming `example`; `{}` for no body
    when `optional`. Every handler that takes a body reads it here, so every one refuses
    the same way what the decoder cannot take (a body over client_max_size is a 413)."""
    if optional and not request.can_read_body:
        return {}
    raw = await request.read()
    try:
        body = json.loads(raw)
    except RecursionError:
        # The decoder recurses per level: 50,000 '[' fit in the size limit.
        raise _too_deep() from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "bad_json", f"the body must be JSON like {example}") from None
    if _deeper_than(body, MAX_JSON_DEPTH):
        raise _too_deep()
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", f"expected a JSON object like {example}")
    return body


def _too_deep() -> ApiError:
    return ApiError(
        400,
        "bad_json",
        f"the body is nested more than {MAX_JSON_DEPTH} levels deep",
        {"max_depth": MAX_JSON_DEPTH},
    )


def _deeper_than(value: object, limit: int) -> bool:
    # Iterative: whatever the decoder accepted must not recurse anywhere after it either.
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level >= limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False
