"""What the REST client and the event stream share: the base URL and the credentials.

Credentials only ever live in the ``Authorization`` header value built here. They are never
put in a URL (ARI's ``api_key=user:pass`` query parameter would leak into every log line
that shows the URL) and never logged.
"""

from __future__ import annotations

import aiohttp
from yarl import URL


def basic_auth_header(username: str, password: str) -> str:
    """The ``Authorization`` header value (aiohttp 3.14 deprecates ``BasicAuth``/``auth=``)."""
    return aiohttp.encode_basic_auth(username, password)


def parse_base_url(base_url: str) -> URL:
    """Validate ``http(s)://host:port/ari``; credentials must not be part of it."""
    url = URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"ARI base URL must be http(s)://host[:port]/ari, got {safe_url(url)}")
    if url.user is not None or url.password is not None:
        raise ValueError("ARI base URL must not contain credentials; pass username/password")
    if url.query_string or url.fragment:
        raise ValueError(f"ARI base URL must not have a query or fragment: {safe_url(url)}")
    return url.with_path(url.path.rstrip("/"))


def safe_url(url: URL) -> str:
    """A URL fit for logs: no user info, even if someone put it there."""
    return str(url.with_user(None)) if url.is_absolute() else str(url)


def events_url(base: URL, app: str, *, subscribe_all: bool) -> URL:
    """``ws(s)://host:port/ari/events?app=<app>&subscribeAll=false``."""
    scheme = "wss" if base.scheme == "https" else "ws"
    return (base.with_scheme(scheme) / "events").with_query(
        {"app": app, "subscribeAll": "true" if subscribe_all else "false"}
    )
