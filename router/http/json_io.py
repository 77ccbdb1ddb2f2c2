"""JSON in and out of the API: the response every handler returns, and query parameters
checked into the one error shape (`ApiError`)."""

from __future__ import annotations

import json
from datetime import datetime

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
