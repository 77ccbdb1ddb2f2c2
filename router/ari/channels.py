"""Channel and playback operations of the ARI client (see ``router.ari.client``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from router.ari.errors import AriNotFound
from router.ari.models import Channel, Playback
from router.ari.transport import AriHttp

# Characters that Asterisk's application-argument parser treats specially (separator,
# quoting, escaping, nesting): a Stasis argument containing one would be split or mangled.
_STASIS_ARG_FORBIDDEN = frozenset(',"\\()[]{}')


def stasis_args(args: Sequence[str]) -> str:
    """Join Stasis application arguments, refusing any that Asterisk would not keep intact."""
    if isinstance(args, str):
        raise TypeError("app_args must be a sequence of strings, not a string")
    for arg in args:
        if any(ch in _STASIS_ARG_FORBIDDEN or not ch.isprintable() for ch in arg):
            raise ValueError(
                f"Stasis argument {arg!r} contains a character Asterisk would split on"
            )
    return ",".join(args)


def play_body(media: Sequence[str], lang: str | None, playback_id: str | None) -> dict[str, Any]:
    """The JSON body of a play request (a JSON list keeps commas inside a media URI)."""
    items = [media] if isinstance(media, str) else list(media)
    if not items:
        raise ValueError("play needs at least one media URI")
    body: dict[str, Any] = {"media": items}
    if lang:
        body["lang"] = lang
    if playback_id:
        body["playbackId"] = playback_id
    return body


class ChannelCalls:
    """ARI calls on channels and playbacks; ``AriClient`` inherits them."""

    _http: AriHttp
    app: str

    # -- channels ----------------------------------------------------------------------------

    async def list_channels(self, *, request_timeout: float | None = None) -> list[Channel]:
        return await self._http.fetch_list(Channel.from_json, ("channels",), request_timeout)

    async def get_channel(
        self, channel_id: str, *, request_timeout: float | None = None
    ) -> Channel:
        return await self._http.fetch(
            Channel.from_json, "GET", ("channels", channel_id), request_timeout=request_timeout
        )

    async def answer(self, channel_id: str, *, request_timeout: float | None = None) -> None:
        await self._http.request(
            "POST", ("channels", channel_id, "answer"), request_timeout=request_timeout
        )

    async def ring(self, channel_id: str, *, request_timeout: float | None = None) -> None:
        """Send ringing (180) to an unanswered caller."""
        await self._http.request(
            "POST", ("channels", channel_id, "ring"), request_timeout=request_timeout
        )

    async def ring_stop(self, channel_id: str, *, request_timeout: float | None = None) -> None:
        await self._http.request(
            "DELETE", ("channels", channel_id, "ring"), request_timeout=request_timeout
        )

    async def hangup(
        self, channel_id: str, reason: str = "normal", *, request_timeout: float | None = None
    ) -> None:
        """Hang up. On an unanswered inbound call ``reason`` picks the SIP reply:
        normal 603, busy 486, congestion 503, no_answer 480 (asterisk-behaviour §5)."""
        await self._http.request(
            "DELETE",
            ("channels", channel_id),
            params={"reason": reason},
            request_timeout=request_timeout,
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str,
        extension: str,
        priority: int = 1,
        *,
        request_timeout: float | None = None,
    ) -> None:
        params: dict[str, str | int] = {
            "context": context,
            "extension": extension,
            "priority": priority,
        }
        await self._http.request(
            "POST",
            ("channels", channel_id, "continue"),
            params=params,
            request_timeout=request_timeout,
        )

    async def move(
        self,
        channel_id: str,
        app: str,
        app_args: Sequence[str] = (),
        *,
        request_timeout: float | None = None,
    ) -> None:
        """Move a channel to another Stasis app (the takeover primitive, asterisk-behaviour §3b)."""
        params: dict[str, str | int] = {"app": app}
        if app_args:
            params["appArgs"] = stasis_args(app_args)
        await self._http.request(
            "POST", ("channels", channel_id, "move"), params=params, request_timeout=request_timeout
        )

    async def start_moh(
        self, channel_id: str, moh_class: str = "default", *, request_timeout: float | None = None
    ) -> None:
        """Start music on hold. An unknown class also answers 204 (and plays silence)."""
        await self._http.request(
            "POST",
            ("channels", channel_id, "moh"),
            params={"mohClass": moh_class},
            request_timeout=request_timeout,
        )

    async def stop_moh(self, channel_id: str, *, request_timeout: float | None = None) -> None:
        await self._http.request(
            "DELETE", ("channels", channel_id, "moh"), request_timeout=request_timeout
        )

    async def play(
        self,
        channel_id: str,
        media: Sequence[str],
        lang: str | None = None,
        playback_id: str | None = None,
        *,
        request_timeout: float | None = None,
    ) -> Playback:
        """Queue media on a channel (201, state ``queued``). Failures such as a missing file
        only show up later as ``PlaybackFinished`` with state ``failed``."""
        body = play_body(media, lang, playback_id)
        return await self._http.fetch(
            Playback.from_json,
            "POST",
            ("channels", channel_id, "play"),
            body=body,
            request_timeout=request_timeout,
        )

    async def stop_playback(
        self, playback_id: str, *, request_timeout: float | None = None
    ) -> None:
        await self._http.request(
            "DELETE", ("playbacks", playback_id), request_timeout=request_timeout
        )

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        max_duration_s: int = 120,
        max_silence_s: int = 10,
        beep: bool = True,
        request_timeout: float | None = None,
    ) -> None:
        """Record the caller (a voicemail) as `name`.wav in Asterisk's recording folder;
        `#` ends it. The end arrives as RecordingFinished/RecordingFailed."""
        params = {
            "name": name,
            "format": "wav",
            "maxDurationSeconds": str(max_duration_s),
            "maxSilenceSeconds": str(max_silence_s),
            "beep": "true" if beep else "false",
            "terminateOn": "#",
            "ifExists": "overwrite",
        }
        await self._http.request(
            "POST",
            ("channels", channel_id, "record"),
            params=params,
            request_timeout=request_timeout,
        )

    async def set_variable(
        self, channel_id: str, name: str, value: str, *, request_timeout: float | None = None
    ) -> None:
        params = {"variable": name, "value": value}
        await self._http.request(
            "POST",
            ("channels", channel_id, "variable"),
            params=params,
            request_timeout=request_timeout,
        )

    async def get_variable(
        self, channel_id: str, name: str, *, request_timeout: float | None = None
    ) -> str | None:
        """The variable's value, or None when it is not set.

        Asterisk answers 404 both for an unset variable and for a missing channel; the
        latter still raises ``AriNotFound`` (told apart by Asterisk's message).
        """
        try:
            data = await self._http.request(
                "GET",
                ("channels", channel_id, "variable"),
                params={"variable": name},
                request_timeout=request_timeout,
            )
        except AriNotFound as exc:
            if "channel" in exc.message.lower():
                raise
            return None
        value = data.get("value") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    async def snoop(
        self,
        channel_id: str,
        *,
        snoop_id: str,
        spy: str,
        whisper: str,
        app_args: Sequence[str],
        request_timeout: float | None = None,
    ) -> Channel:
        """A Snoop channel on ``channel_id``, in our Stasis app: it hears the channel's
        audio (``spy``: in, out, both or none) and speaks into it (``whisper``: out =
        to that channel's phone only, both = into the call too)."""
        params: dict[str, str | int] = {
            "spy": spy,
            "whisper": whisper,
            "app": self.app,
            "snoopId": snoop_id,
            "appArgs": stasis_args(app_args),
        }
        return await self._http.fetch(
            Channel.from_json,
            "POST",
            ("channels", channel_id, "snoop"),
            params=params,
            request_timeout=request_timeout,
        )

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app_args: Sequence[str],
        timeout_s: int,
        app: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        originator: str | None = None,
        request_timeout: float | None = None,
    ) -> Channel:
        """Dial ``endpoint`` (e.g. ``PJSIP/op1001``) into Stasis app ``app`` (default: ours).

        ``timeout_s`` is mandatory: Asterisk's default rings for 30 s. A 500 ``Allocation
        failed`` (``AriServerError``) means the endpoint cannot be dialled at all; busy or
        no answer arrive later as events (ChannelDestroyed cause/tech_cause).
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be a positive number of seconds")
        body: dict[str, Any] = {
            "endpoint": endpoint,
            "app": app or self.app,
            "channelId": channel_id,
            "timeout": timeout_s,
        }
        if app_args:
            body["appArgs"] = stasis_args(app_args)
        if caller_id is not None:
            body["callerId"] = caller_id
        if originator is not None:
            body["originator"] = originator
        if variables:
            body["variables"] = dict(variables)
        return await self._http.fetch(
            Channel.from_json, "POST", ("channels",), body=body, request_timeout=request_timeout
        )
