"""ARI objects, parsed once at the boundary into frozen typed values.

Parsing is tolerant: a missing or null field becomes ``""`` (or an empty tuple), unknown
fields are ignored, so a newer Asterisk that adds fields does not break the router. Only an
object without its identity (a channel without ``id``...) is rejected, with ``ValueError``.

Caller fields are untrusted text (asterisk-behaviour §7): up to 79 characters of arbitrary UTF-8,
possibly empty, ``anonymous``, with quotes, ``;``, ``,`` or U+FFFD. They are kept verbatim
here; normalising them is the domain's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

JsonObject = Mapping[str, Any]


def text(data: JsonObject, key: str) -> str:
    """A string field; absent, null or non-string values become ``""``."""
    value = data.get(key)
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def integer(data: JsonObject, key: str) -> int | None:
    """An integer field (Asterisk sends numbers; numeric strings are accepted too)."""
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def obj(data: JsonObject, key: str) -> JsonObject:
    """A nested object field, or an empty mapping."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def strings(data: JsonObject, key: str) -> tuple[str, ...]:
    """A list of strings; non-string items are converted, a non-list becomes ``()``."""
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item if isinstance(item, str) else str(item) for item in value)


def required_id(data: JsonObject, key: str, kind: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} without {key!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """A channel as Asterisk reports it in REST replies and events."""

    id: str
    name: str = ""
    state: str = ""  # Down, Rsrvd, OffHook, Dialing, Ring, Ringing, Up, Busy, ...
    caller_number: str = ""
    caller_name: str = ""
    connected_number: str = ""
    connected_name: str = ""
    exten: str = ""  # dialplan.exten: the DID for an inbound call
    context: str = ""
    priority: int | None = None
    app_name: str = ""  # dialplan.app_name: Stasis / StasisBroadcast / AppDial ...
    app_data: str = ""
    language: str = ""
    protocol_id: str = ""  # the SIP Call-ID for PJSIP channels
    creationtime: str = ""
    # ari.conf ``channelvars``; unset variables appear as "" (asterisk-behaviour §8).
    channelvars: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def endpoint(self) -> str:
        """The endpoint the channel belongs to: `PJSIP/op1001-0000002a` -> `PJSIP/op1001`."""
        return self.name.rsplit("-", 1)[0]

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        caller = obj(data, "caller")
        connected = obj(data, "connected")
        dialplan = obj(data, "dialplan")
        raw_vars = obj(data, "channelvars")
        return cls(
            id=required_id(data, "id", "channel"),
            name=text(data, "name"),
            state=text(data, "state"),
            caller_number=text(caller, "number"),
            caller_name=text(caller, "name"),
            connected_number=text(connected, "number"),
            connected_name=text(connected, "name"),
            exten=text(dialplan, "exten"),
            context=text(dialplan, "context"),
            priority=integer(dialplan, "priority"),
            app_name=text(dialplan, "app_name"),
            app_data=text(dialplan, "app_data"),
            language=text(data, "language"),
            protocol_id=text(data, "protocol_id"),
            creationtime=text(data, "creationtime"),
            channelvars={str(k): text(raw_vars, k) for k in raw_vars},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""  # mixing / holding
    bridge_class: str = ""  # "stasis" for bridges created through ARI
    name: str = ""
    creator: str = ""
    channel_ids: tuple[str, ...] = ()
    creationtime: str = ""

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_id(data, "id", "bridge"),
            technology=text(data, "technology"),
            bridge_type=text(data, "bridge_type"),
            bridge_class=text(data, "bridge_class"),
            name=text(data, "name"),
            creator=text(data, "creator"),
            channel_ids=strings(data, "channels"),
            creationtime=text(data, "creationtime"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Playback:
    id: str
    media_uri: str = ""
    next_media_uri: str = ""
    target_uri: str = ""  # "channel:<id>" or "bridge:<id>"
    language: str = ""
    state: str = ""  # queued, playing, continuing, done, failed, cancelled, ...

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            id=required_id(data, "id", "playback"),
            media_uri=text(data, "media_uri"),
            next_media_uri=text(data, "next_media_uri"),
            target_uri=text(data, "target_uri"),
            language=text(data, "language"),
            state=text(data, "state"),
        )

    @property
    def channel_id(self) -> str | None:
        """The channel played to, or None for a bridge playback."""
        kind, _, target = self.target_uri.partition(":")
        return target if kind == "channel" and target else None

    @property
    def bridge_id(self) -> str | None:
        kind, _, target = self.target_uri.partition(":")
        return target if kind == "bridge" and target else None


def _event_types(data: JsonObject, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(text(item, "type") for item in value if isinstance(item, dict))


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()
    events_allowed: tuple[str, ...] = ()  # event filter; empty = everything allowed
    events_disallowed: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            name=required_id(data, "name", "application"),
            channel_ids=strings(data, "channel_ids"),
            bridge_ids=strings(data, "bridge_ids"),
            endpoint_ids=strings(data, "endpoint_ids"),
            device_names=strings(data, "device_names"),
            events_allowed=_event_types(data, "events_allowed"),
            events_disallowed=_event_types(data, "events_disallowed"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    technology: str
    resource: str
    state: str = ""  # unknown, offline, online
    channel_ids: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            technology=required_id(data, "technology", "endpoint"),
            resource=required_id(data, "resource", "endpoint"),
            state=text(data, "state"),
            channel_ids=strings(data, "channel_ids"),
        )


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    """`GET /asterisk/info`, what the router reads of it."""

    startup_time: str = ""  # "2026-12-03T11:42:53.803+0000": changes when Asterisk restarts

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(startup_time=text(obj(data, "status"), "startup_time"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AsteriskPing:
    asterisk_id: str = ""
    ping: str = ""
    timestamp: str = ""

    @classmethod
    def from_json(cls, data: JsonObject) -> Self:
        return cls(
            asterisk_id=text(data, "asterisk_id"),
            ping=text(data, "ping"),
            timestamp=text(data, "timestamp"),
        )
