"""The closed set of errors raised by the ARI client.

Every error keeps Asterisk's own reply text (``message``), the HTTP status and the request
(method and path, never the query string's credentials: there are none, authentication
travels in a header that is never logged or stored here).
"""

from __future__ import annotations


class AriError(Exception):
    """An ARI request failed.

    ``status`` is the HTTP status Asterisk answered with, or 0 when no HTTP answer arrived
    (connection refused, reset, timed out). Statuses without a subclass arrive as plain
    ``AriError``, notably 412 ``Channel in invalid state`` (ring, moh or play on a channel
    that is still ``Down``).
    """

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(status, message, method, path)
        self.status = status
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        status = self.status if self.status else "no answer"
        return f"{self.method} {self.path} -> {status}: {self.message}"


class AriBadRequest(AriError):
    """400 or 422: a missing or invalid parameter, or an event source that does not exist.

    Note: ``addChannel`` with a channel that no longer exists answers 400 ``Channel not
    found`` (not 404) in Asterisk 22.10.
    """


class AriUnauthorized(AriError):
    """401 or 403: the ARI user or password is wrong (a configuration error, not transient)."""


class AriNotFound(AriError):
    """404: the channel, bridge, playback, variable or application does not exist (any more)."""


class AriChannelMissing(AriBadRequest, AriNotFound):
    """`addChannel` named a channel that is gone: Asterisk says 400 "Channel not found",
    but for callers it is a 404 like any other vanished channel."""


class AriConflict(AriError):
    """409: the object is in the wrong state, e.g. ``Channel not in Stasis application``,
    or a broadcast channel that another application already claimed."""


class AriServerError(AriError):
    """A 5xx other than 503, e.g. originate's 500 ``Allocation failed`` for an endpoint
    that cannot be dialled (unregistered, unreachable, unknown), or 500 ``Unable to create
    bridge`` (duplicate bridge id or unknown bridge type)."""


class AriUnavailable(AriError):
    """Asterisk could not be reached or did not answer in time, or answered 503.

    After a timeout the outcome of a non-idempotent request (originate, play) is unknown:
    Asterisk may have carried it out.
    """


def error_for_status(status: int, message: str, method: str, path: str) -> AriError:
    """The error class that matches an HTTP status from Asterisk."""
    cls: type[AriError]
    if status in (400, 422):
        cls = AriBadRequest
    elif status in (401, 403):
        cls = AriUnauthorized
    elif status == 404:
        cls = AriNotFound
    elif status == 409:
        cls = AriConflict
    elif status == 503:
        cls = AriUnavailable
    elif status >= 500:
        cls = AriServerError
    else:
        cls = AriError
    return cls(status, message, method, path)
