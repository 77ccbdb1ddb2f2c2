"""A thin typed ARI REST client on aiohttp.

One method per ARI operation the router uses; no routing logic. Every request has its own
timeout (the client's ``request_timeout``, or the ``request_timeout=`` keyword that every
method accepts): a channel command can block behind a running channel playback for as
long as the prompt lasts (asterisk-behaviour §9b), so give ``answer``/``add_channel`` a longer
timeout, or stop the playback first.

Parameters that may contain commas (media lists, tone strings such as
``tone:425/1000,0/4000``, originate variables) travel in a JSON body: in the query string
Asterisk splits multi-value parameters at commas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from router.ari.channels import ChannelCalls, play_body
from router.ari.errors import AriBadRequest, AriChannelMissing
from router.ari.models import (
    Application,
    AsteriskInfo,
    AsteriskPing,
    Bridge,
    Channel,
    Endpoint,
    Playback,
)
from router.ari.transport import AriHttp


class AriClient(ChannelCalls):
    """ARI REST calls for one Stasis application (``app``)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        request_timeout: float = 5.0,
    ) -> None:
        self._http = AriHttp(session, base_url, username, password, request_timeout)
        self.app = app

    def __repr__(self) -> str:
        return f"AriClient({self._http!r}, app={self.app!r})"

    @property
    def request_count(self) -> int:
        """Requests sent so far (for benchmarks)."""
        return self._http.request_count

    # -- Asterisk ----------------------------------------------------------------------------

    async def ping(self, *, request_timeout: float | None = None) -> AsteriskPing:
        return await self._http.fetch(
            AsteriskPing.from_json, "GET", ("asterisk", "ping"), request_timeout=request_timeout
        )

    async def info(self, *, request_timeout: float | None = None) -> AsteriskInfo:
        return await self._http.fetch(
            AsteriskInfo.from_json, "GET", ("asterisk", "info"), request_timeout=request_timeout
        )

    async def set_global_variable(
        self, name: str, value: str, *, request_timeout: float | None = None
    ) -> None:
        """Set a global variable, or write a dialplan function (``DB_DELETE(family/key)``).

        Asterisk answers 204 even when it refuses the write: over ARI the "dangerous"
        functions (``DB()`` writes, ``SHELL``...) are blocked unless ``live_dangerously``
        is on, and only its log says so. Writing ``DB_DELETE`` is allowed (22.10).
        There is no global read of functions: ``GET /asterisk/variable`` evaluates none
        (``DB_KEYS(x)``, ``DB(x/y)``, even ``LEN(abc)`` read as ``""`` on 22.10); read
        them on a channel with ``get_variable`` (see ``router.ari.astdb``).
        """
        body = {"variable": name, "value": value}  # a JSON body keeps '+' and ',' intact
        await self._http.request(
            "POST", ("asterisk", "variable"), body=body, request_timeout=request_timeout
        )

    async def originate_to_dialplan(
        self,
        endpoint: str,
        *,
        context: str,
        extension: str,
        channel_id: str,
        timeout_s: int,
        priority: int = 1,
        request_timeout: float | None = None,
    ) -> Channel:
        """Dial ``endpoint``; once answered it runs ``context,extension,priority``.

        The channel is in no Stasis app: this app gets none of its events. It exists as
        soon as this returns (the dial itself goes on in the background), so it can be
        read with ``get_variable`` at once.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be a positive number of seconds")
        body: dict[str, Any] = {
            "endpoint": endpoint,
            "context": context,
            "extension": extension,
            "priority": priority,
            "channelId": channel_id,
            "timeout": timeout_s,
        }
        return await self._http.fetch(
            Channel.from_json, "POST", ("channels",), body=body, request_timeout=request_timeout
        )

    # -- bridges -----------------------------------------------------------------------------

    async def create_bridge(
        self,
        bridge_id: str,
        bridge_type: str = "mixing",
        name: str = "",
        *,
        request_timeout: float | None = None,
    ) -> Bridge:
        """Create a bridge. ARI bridges are never destroyed automatically, even when empty:
        delete them (asterisk-behaviour §1)."""
        params: dict[str, str | int] = {"type": bridge_type, "bridgeId": bridge_id}
        if name:
            params["name"] = name
        return await self._http.fetch(
            Bridge.from_json, "POST", ("bridges",), params=params, request_timeout=request_timeout
        )

    async def get_bridge(self, bridge_id: str, *, request_timeout: float | None = None) -> Bridge:
        return await self._http.fetch(
            Bridge.from_json, "GET", ("bridges", bridge_id), request_timeout=request_timeout
        )

    async def list_bridges(self, *, request_timeout: float | None = None) -> list[Bridge]:
        return await self._http.fetch_list(Bridge.from_json, ("bridges",), request_timeout)

    async def add_channel(
        self, bridge_id: str, channel_ids: Sequence[str], *, request_timeout: float | None = None
    ) -> None:
        ids = [channel_ids] if isinstance(channel_ids, str) else list(channel_ids)
        try:
            await self._http.request(
                "POST",
                ("bridges", bridge_id, "addChannel"),
                params={"channel": ",".join(ids)},
                request_timeout=request_timeout,
            )
        except AriBadRequest as exc:
            if "not found" not in exc.message.lower():
                raise
            raise AriChannelMissing(exc.status, exc.message, exc.method, exc.path) from None

    async def remove_channel(
        self, bridge_id: str, channel_id: str, *, request_timeout: float | None = None
    ) -> None:
        await self._http.request(
            "POST",
            ("bridges", bridge_id, "removeChannel"),
            params={"channel": channel_id},
            request_timeout=request_timeout,
        )

    async def delete_bridge(self, bridge_id: str, *, request_timeout: float | None = None) -> None:
        await self._http.request("DELETE", ("bridges", bridge_id), request_timeout=request_timeout)

    async def start_bridge_moh(
        self, bridge_id: str, moh_class: str = "default", *, request_timeout: float | None = None
    ) -> None:
        await self._http.request(
            "POST",
            ("bridges", bridge_id, "moh"),
            params={"mohClass": moh_class},
            request_timeout=request_timeout,
        )

    async def stop_bridge_moh(
        self, bridge_id: str, *, request_timeout: float | None = None
    ) -> None:
        await self._http.request(
            "DELETE", ("bridges", bridge_id, "moh"), request_timeout=request_timeout
        )

    async def play_bridge(
        self,
        bridge_id: str,
        media: Sequence[str],
        lang: str | None = None,
        playback_id: str | None = None,
        *,
        request_timeout: float | None = None,
    ) -> Playback:
        """Play to a whole bridge. Fails (PlaybackFinished ``failed``) on a holding bridge
        whose MOH is on: play to the channel instead (asterisk-behaviour §9)."""
        body = play_body(media, lang, playback_id)
        return await self._http.fetch(
            Playback.from_json,
            "POST",
            ("bridges", bridge_id, "play"),
            body=body,
            request_timeout=request_timeout,
        )

    # -- applications, events ----------------------------------------------------------------

    async def get_application(
        self, name: str | None = None, *, request_timeout: float | None = None
    ) -> Application:
        return await self._http.fetch(
            Application.from_json,
            "GET",
            ("applications", name or self.app),
            request_timeout=request_timeout,
        )

    async def subscribe(
        self, event_source: str, *, request_timeout: float | None = None
    ) -> Application:
        """Subscribe to ``channel:<id>``, ``bridge:<id>``, ``endpoint:<tech>/<res>`` ..."""
        return await self._http.fetch(
            Application.from_json,
            "POST",
            ("applications", self.app, "subscription"),
            params={"eventSource": event_source},
            request_timeout=request_timeout,
        )

    async def set_event_filter(
        self,
        allowed: Sequence[str],
        disallowed: Sequence[str] | None = None,
        *,
        request_timeout: float | None = None,
    ) -> Application:
        """Limit the event types Asterisk sends to this app (``[]`` = all allowed).

        ``ApplicationReplaced`` is always added to a non-empty allowed list: Asterisk 22.10
        filters it like any other event (checked in the sandbox), and the stream must see
        it. The filter belongs to the app object in Asterisk, which is recreated after a
        reconnect once it owned nothing: set it again in ``on_connected``.
        """
        types = list(dict.fromkeys(allowed))
        if types and "ApplicationReplaced" not in types:
            types.append("ApplicationReplaced")
        body: dict[str, Any] = {"allowed": [{"type": t} for t in types]}
        if disallowed is not None:
            body["disallowed"] = [{"type": t} for t in disallowed]
        return await self._http.fetch(
            Application.from_json,
            "PUT",
            ("applications", self.app, "eventFilter"),
            body=body,
            request_timeout=request_timeout,
        )

    async def claim(self, channel_id: str, *, request_timeout: float | None = None) -> None:
        """Claim a channel offered by ``CallBroadcast``. ``AriConflict`` (409): another
        router won; ``AriNotFound`` (404): the broadcast is over (timed out)."""
        params = {"channelId": channel_id, "application": self.app}
        await self._http.request(
            "POST", ("events", "claim"), params=params, request_timeout=request_timeout
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def list_endpoints(self, *, request_timeout: float | None = None) -> list[Endpoint]:
        return await self._http.fetch_list(Endpoint.from_json, ("endpoints",), request_timeout)

    async def get_endpoint(
        self, tech: str, resource: str, *, request_timeout: float | None = None
    ) -> Endpoint:
        return await self._http.fetch(
            Endpoint.from_json,
            "GET",
            ("endpoints", tech, resource),
            request_timeout=request_timeout,
        )
