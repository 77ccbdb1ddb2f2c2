"""Typed ARI events, parsed from the WebSocket's JSON at the boundary.

``parse_event`` never raises: an event type we do not model, or a modelled event whose
shape is broken (a StasisStart without a channel...), becomes ``UnknownEvent`` and is
logged at debug. Every event exposes ``channel_ids()`` (and ``bridge_ids()``), the ids the
engine uses to route it to the owning call's queue; the parser does no routing itself.

Asterisk behaviour worth knowing when consuming these (asterisk-behaviour §5, §1, §4):
* ``ChannelDestroyed`` is the only terminal event that is always present. ``StasisEnd`` is
  missing for channels the app merely subscribed to, and for channels that hung up while
  no WebSocket was connected; ``Dial NOANSWER`` is missing on an originate timeout.
* ``ChannelHangupRequest`` with ``soft=True, cause=4`` means Asterisk is shutting down.
* ``ApplicationReplaced`` means another WebSocket took this app name over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from router.ari.models import Bridge, Channel, JsonObject, Playback, integer, obj, strings, text

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str
    application: str = ""
    timestamp: str = ""  # as Asterisk wrote it, e.g. "2026-11-10T09:15:02.118+0300"

    def channel_ids(self) -> tuple[str, ...]:
        """The channels this event concerns, the primary one first."""
        return ()

    def bridge_ids(self) -> tuple[str, ...]:
        """The bridges this event concerns."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(Event):
    """An event about one channel."""

    channel: Channel

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None  # set when this channel replaces another

    def channel_ids(self) -> tuple[str, ...]:
        if self.replace_channel is None:
            return (self.channel.id,)
        return (self.channel.id, self.replace_channel.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    cause: int | None = None  # Q.850, e.g. 16 normal, 17 busy, 19 no answer
    cause_txt: str = ""
    tech_cause: int | None = None  # the SIP status for PJSIP, e.g. 486, 480, 408


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str = ""
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeChannelEvent(Event):
    bridge: Bridge
    channel: Channel | None = None  # optional in Asterisk's model for ChannelEnteredBridge

    def channel_ids(self) -> tuple[str, ...]:
        return () if self.channel is None else (self.channel.id,)

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(BridgeChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(BridgeChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackEvent(Event):
    playback: Playback

    def channel_ids(self) -> tuple[str, ...]:
        channel_id = self.playback.channel_id
        return () if channel_id is None else (channel_id,)

    def bridge_ids(self) -> tuple[str, ...]:
        bridge_id = self.playback.bridge_id
        return () if bridge_id is None else (bridge_id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    """The next media of a multi-media playback started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """``playback.state`` is ``done``, or ``failed`` (missing file, hangup during playback)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingEnded(Event):
    """RecordingFinished or RecordingFailed of a channel recording (a voicemail)."""

    name: str
    target_uri: str
    state: str  # done, failed, canceled
    duration_s: int | None = None

    def channel_ids(self) -> tuple[str, ...]:
        kind, _, target = self.target_uri.partition(":")
        return (target,) if kind == "channel" and target else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    peer: Channel  # the dialled channel
    caller: Channel | None = None  # absent for a plain originate
    dialstatus: str = ""  # "" (dialling), RINGING, ANSWER, BUSY, NOANSWER, CANCEL, ...
    dialstring: str = ""
    forward: str = ""

    def channel_ids(self) -> tuple[str, ...]:
        if self.caller is None:
            return (self.peer.id,)
        return (self.peer.id, self.caller.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallBroadcast(ChannelEvent):
    """StasisBroadcast offers a channel; claim it within the dialplan's timeout."""

    caller: str | None = None  # caller number (untrusted text)
    called: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallClaimed(ChannelEvent):
    winner_app: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    variable: str = ""
    value: str = ""
    channel: Channel | None = None  # None for a global variable

    def channel_ids(self) -> tuple[str, ...]:
        return () if self.channel is None else (self.channel.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another WebSocket connected with this app name and took it over (asterisk-behaviour §3a)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationRegistered(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event type we do not model, or a malformed one; ``raw`` is the JSON as received."""

    raw: dict[str, Any] = field(default_factory=dict, hash=False)

    def channel_ids(self) -> tuple[str, ...]:
        # Best effort, so that e.g. ChannelCallerId or ChannelTalkingStarted still reach
        # the owning call.
        channel_id = obj(self.raw, "channel").get("id")
        return (channel_id,) if isinstance(channel_id, str) and channel_id else ()

    def bridge_ids(self) -> tuple[str, ...]:
        bridge_id = obj(self.raw, "bridge").get("id")
        return (bridge_id,) if isinstance(bridge_id, str) and bridge_id else ()


def _optional_channel(data: JsonObject, key: str) -> Channel | None:
    value = data.get(key)
    return Channel.from_json(value) if isinstance(value, dict) else None


def _channel(data: JsonObject) -> Channel:
    value = data.get("channel")
    if not isinstance(value, dict):
        raise ValueError("no channel object")
    return Channel.from_json(value)


def _bridge(data: JsonObject) -> Bridge:
    value = data.get("bridge")
    if not isinstance(value, dict):
        raise ValueError("no bridge object")
    return Bridge.from_json(value)


def _playback(data: JsonObject) -> Playback:
    value = data.get("playback")
    if not isinstance(value, dict):
        raise ValueError("no playback object")
    return Playback.from_json(value)


def _peer(data: JsonObject) -> Channel:
    value = data.get("peer")
    if not isinstance(value, dict):
        raise ValueError("no peer object")
    return Channel.from_json(value)


def _optional_text(data: JsonObject, key: str) -> str | None:
    return text(data, key) if key in data and data[key] is not None else None


class _Common(TypedDict):
    type: str
    application: str
    timestamp: str


_Parser = Callable[[JsonObject, _Common], Event]

_PARSERS: dict[str, _Parser] = {
    "StasisStart": lambda d, c: StasisStart(
        **c,
        channel=_channel(d),
        args=strings(d, "args"),
        replace_channel=_optional_channel(d, "replace_channel"),
    ),
    "StasisEnd": lambda d, c: StasisEnd(**c, channel=_channel(d)),
    "ChannelDestroyed": lambda d, c: ChannelDestroyed(
        **c,
        channel=_channel(d),
        cause=integer(d, "cause"),
        cause_txt=text(d, "cause_txt"),
        tech_cause=integer(d, "tech_cause"),
    ),
    "ChannelHangupRequest": lambda d, c: ChannelHangupRequest(
        **c,
        channel=_channel(d),
        cause=integer(d, "cause"),
        soft=d.get("soft") is True,
        tech_cause=integer(d, "tech_cause"),
    ),
    "ChannelStateChange": lambda d, c: ChannelStateChange(**c, channel=_channel(d)),
    "ChannelDtmfReceived": lambda d, c: ChannelDtmfReceived(
        **c, channel=_channel(d), digit=text(d, "digit"), duration_ms=integer(d, "duration_ms")
    ),
    "ChannelEnteredBridge": lambda d, c: ChannelEnteredBridge(
        **c, bridge=_bridge(d), channel=_optional_channel(d, "channel")
    ),
    "ChannelLeftBridge": lambda d, c: ChannelLeftBridge(
        **c, bridge=_bridge(d), channel=_optional_channel(d, "channel")
    ),
    "PlaybackStarted": lambda d, c: PlaybackStarted(**c, playback=_playback(d)),
    "PlaybackContinuing": lambda d, c: PlaybackContinuing(**c, playback=_playback(d)),
    "PlaybackFinished": lambda d, c: PlaybackFinished(**c, playback=_playback(d)),
    "RecordingFinished": lambda d, c: _recording(d, c),
    "RecordingFailed": lambda d, c: _recording(d, c),
    "Dial": lambda d, c: Dial(
        **c,
        peer=_peer(d),
        caller=_optional_channel(d, "caller"),
        dialstatus=text(d, "dialstatus"),
        dialstring=text(d, "dialstring"),
        forward=text(d, "forward"),
    ),
    "CallBroadcast": lambda d, c: CallBroadcast(
        **c,
        channel=_channel(d),
        caller=_optional_text(d, "caller"),
        called=_optional_text(d, "called"),
    ),
    "CallClaimed": lambda d, c: CallClaimed(
        **c, channel=_channel(d), winner_app=text(d, "winner_app")
    ),
    "ChannelVarset": lambda d, c: ChannelVarset(
        **c,
        variable=text(d, "variable"),
        value=text(d, "value"),
        channel=_optional_channel(d, "channel"),
    ),
    "ApplicationReplaced": lambda d, c: ApplicationReplaced(**c),
    "ApplicationRegistered": lambda d, c: ApplicationRegistered(**c),
}


def _recording(data: JsonObject, common: _Common) -> RecordingEnded:
    recording = data.get("recording")
    if not isinstance(recording, dict):
        raise ValueError("recording is missing")
    return RecordingEnded(
        **common,
        name=text(recording, "name"),
        target_uri=text(recording, "target_uri"),
        state=text(recording, "state"),
        duration_s=integer(recording, "duration"),
    )


def parse_event(data: Mapping[str, Any] | Any) -> Event:
    """Parse one decoded WebSocket message. Never raises."""
    if not isinstance(data, dict):
        logger.debug("ARI message is not a JSON object: %s", type(data).__name__)
        return UnknownEvent(type="", raw={"value": data})
    event_type = text(data, "type")
    common = _Common(
        type=event_type,
        application=text(data, "application"),
        timestamp=text(data, "timestamp"),
    )
    parser = _PARSERS.get(event_type)
    if parser is None:
        return UnknownEvent(**common, raw=data)
    try:
        return parser(data, common)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.debug("malformed ARI %s event kept as UnknownEvent: %s", event_type or "?", exc)
        return UnknownEvent(**common, raw=data)
