"""Adapter for Asterisk's REST Interface: a thin typed REST client and the event stream."""

from router.ari.client import AriClient
from router.ari.errors import (
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnavailable,
)
from router.ari.stream import ApplicationReplacedError, AriEventStream

__all__ = [
    "ApplicationReplacedError",
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriError",
    "AriEventStream",
    "AriNotFound",
    "AriServerError",
    "AriUnauthorized",
    "AriUnavailable",
]
