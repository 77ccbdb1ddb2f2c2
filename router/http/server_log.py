"""aiohttp's server logger for the API: a request it cannot parse is one line, no traceback.

aiohttp refuses a request line or header over `max_line_size`/`max_field_size` (8,190
bytes), or a malformed one, with a plain 400 before any handler or middleware runs (so
before the token is checked, and with no route to render our JSON error from), and logs
it with `logger.exception`. Anyone who can reach the port could fill the log with those
tracebacks; this adapter turns them into one warning. Failures of aiohttp itself keep
their traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

# aiohttp's own defaults, stated: the limits the docs promise (docs/api.md).
MAX_LINE_BYTES = 8190


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """Passed to aiohttp as `logger=`; aiohttp only calls `exception` and `debug` on it."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            # The message quotes the raw line, which may hold a token: name the fault only.
            self.logger.warning(
                "refused an unreadable HTTP request from %s: %s (%d)%s",
                args[0] if args else "?",
                type(exc_info).__name__,
                exc_info.code,
                _limit_of(exc_info),
            )
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def _limit_of(exc: HttpProcessingError) -> str:
    if isinstance(exc, LineTooLong) and len(exc.args) > 1:
        return f", over {exc.args[1]} bytes"
    return ""


def server_args() -> dict[str, Any]:
    """`handler_args` for `web.Application`: the parser's limits and the one-line logger."""
    return {
        "logger": ServerLog(logging.getLogger("router.http.server"), {}),
        "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_LINE_BYTES,
    }
