"""The ARI client and event stream against a fake Asterisk on 127.0.0.1:0.

The fake serves the replies Asterisk 22 really gives (status codes and bodies recorded in
the sandbox, asterisk-behaviour): 204 for commands, ``{"message": ...}`` errors, originate's 500
``{"error":"Allocation failed"}``, 401 with ``WWW-Authenticate``, the WebSocket's 503 while
Asterisk boots, ``ApplicationReplaced``. It never uses our own classes to build replies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.ari import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriError,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnavailable,
)
from router.ari.events import ChannelDtmfReceived, Event, StasisEnd, StasisStart
from router.ari.stream import ApplicationReplacedError, AriEventStream

USER, PASSWORD = "clinic-router", "s3cret-pa55word"
APP = "clinic-router"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TS = "2026-11-10T09:15:02.118+0300"


def channel(channel_id: str, *, state: str = "Ring", name: str = 'Иван "Ваня"') -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": "PJSIP/trunk-00000008",
        "state": state,
        "protocol_id": "",
        "caller": {"name": name, "number": "+7 (916) 123-45-67"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "clinic-router-entry",
            "exten": "100",
            "priority": 2,
            "app_name": "Stasis",
            "app_data": APP,
        },
        "creationtime": "2026-11-10T09:15:01.998+0300",
        "language": "ru",
        "channelvars": {"DID": "100"},
    }


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "timestamp": TS,
        **fields,
        "asterisk_id": "52:54:00:12:34:56",
        "application": APP,
    }


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


WsScript = Callable[[web.WebSocketResponse, int], Awaitable[None]]


@dataclass
class FakeAsterisk:
    seen: list[Seen] = field(default_factory=list)
    ws_refusals: list[int] = field(default_factory=list)  # handshake statuses, in order
    ws_script: WsScript | None = None
    ws_connections: int = 0
    ws_closed: int = 0  # sockets this side has closed
    claimed: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)  # ends stalled scripts

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                json.loads(body) if body else None,
                request.headers.get("Authorization"),
            )
        )
        if request.headers.get("Authorization") != f"Basic {TOKEN}":
            return web.json_response(
                {"error": "Authentication required"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        key = f"{request.method} {request.path}"
        q = request.query
        if key == "GET /ari/events":
            return await self._events(request)
        if key == "GET /ari/asterisk/ping":
            return web.json_response(
                {"asterisk_id": "52:54:00:12:34:56", "ping": "pong", "timestamp": TS}
            )
        if key == "GET /ari/channels":
            return web.json_response([channel("1.1"), channel("1.2", state="Up")])
        if key == "GET /ari/channels/1.1":
            return web.json_response(channel("1.1"))
        if key == "POST /ari/channels/1.1/answer":
            return web.Response(status=204)
        if key == "POST /ari/channels/gone.9/answer":
            return web.json_response({"message": "Channel not found"}, status=404)
        if key == "POST /ari/channels/left.9/answer":
            return web.json_response({"message": "Channel not in Stasis application"}, status=409)
        if key == "POST /ari/channels":
            body = await request.json()
            if body["endpoint"] == "PJSIP/op1006":
                return web.json_response({"error": "Allocation failed"}, status=500)
            return web.json_response({**channel(body["channelId"], state="Down")})
        if key == "POST /ari/channels/1.1/play":
            body = await request.json()
            return web.json_response(
                {
                    "id": body.get("playbackId", "pb-auto"),
                    "media_uri": body["media"][0],
                    "target_uri": "channel:1.1",
                    "language": body.get("lang", "en"),
                    "state": "queued",
                },
                status=201,
            )
        if key == "GET /ari/channels/1.1/variable":
            if q["variable"] == "DID":
                return web.json_response({"value": "100"})
            return web.json_response({"message": "Provided variable was not found"}, status=404)
        if key == "GET /ari/channels/gone.9/variable":
            return web.json_response({"message": "Provided channel was not found"}, status=404)
        if key == "DELETE /ari/channels/1.1":
            return web.Response(status=204)
        if key == "POST /ari/events/claim":
            if q["channelId"] in self.claimed:
                return web.json_response(
                    {"message": "Channel has already been claimed"}, status=409
                )
            self.claimed.add(q["channelId"])
            return web.Response(status=204)
        if key == f"PUT /ari/applications/{APP}/eventFilter":
            body = await request.json()
            return web.json_response(
                {
                    "name": APP,
                    "channel_ids": [],
                    "bridge_ids": [],
                    "endpoint_ids": [],
                    "device_names": [],
                    "events_allowed": body.get("allowed", []),
                    "events_disallowed": body.get("disallowed", []),
                }
            )
        if key == "POST /ari/bridges":
            if q.get("type") == "bogus":  # what Asterisk 22.10 really answers
                return web.json_response(
                    {
                        "message": f"Unable to create bridge. Possible duplicate bridge id "
                        f"'{q['bridgeId']}'"
                    },
                    status=500,
                )
            return web.json_response(
                {
                    "id": q["bridgeId"],
                    "technology": "simple_bridge",
                    "bridge_type": "mixing",
                    "bridge_class": "stasis",
                    "creator": "Stasis",
                    "name": q.get("name", ""),
                    "channels": [],
                    "creationtime": TS,
                    "video_mode": "none",
                }
            )
        if key == "POST /ari/bridges/b1/addChannel":
            if "nope.1" in q["channel"].split(","):  # 400, not 404, in Asterisk 22.10
                return web.json_response({"message": "Channel not found"}, status=400)
            return web.Response(status=204)
        if key == "POST /ari/channels/1.1/ring":  # e.g. a channel still Down
            return web.json_response({"message": "Channel in invalid state"}, status=412)
        if key == "GET /ari/bridges":
            await self.release.wait()  # a stalled Asterisk: no reply until the test ends
            return web.json_response([])
        if key == "POST /ari/applications/clinic-router/subscription":
            return web.json_response({"message": "Event source does not exist"}, status=422)
        if key == "GET /ari/endpoints":
            return web.json_response(
                [
                    {
                        "technology": "PJSIP",
                        "resource": "op1001",
                        "state": "online",
                        "channel_ids": [],
                    }
                ]
            )
        if key == "GET /ari/endpoints/PJSIP/op1001":
            return web.json_response(
                {"technology": "PJSIP", "resource": "op1001", "state": "offline", "channel_ids": []}
            )
        if key == "GET /ari/deviceStates":
            return web.Response(status=503, text="Service Unavailable")
        return web.json_response({"message": "Invalid method"}, status=404)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.ws_refusals:
            status = self.ws_refusals.pop(0)
            return web.Response(status=status, text="Service Unavailable")
        ws = web.WebSocketResponse(protocols=("ari",))
        await ws.prepare(request)
        self.ws_connections += 1
        if self.ws_script is not None:
            await self.ws_script(ws, self.ws_connections)
        await ws.close()
        self.ws_closed += 1
        return ws


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAsterisk, str]]:
    asterisk = FakeAsterisk()
    server = TestServer(asterisk.app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield asterisk, f"http://127.0.0.1:{server.port}/ari"
    finally:
        asterisk.release.set()
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def ari(fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession) -> AriClient:
    return AriClient(session, fake[1], USER, PASSWORD, APP, request_timeout=2.0)


# -- REST -------------------------------------------------------------------------------------


async def test_ping_and_list_channels(fake: tuple[FakeAsterisk, str], ari: AriClient) -> None:
    pong = await ari.ping()
    assert (pong.ping, pong.asterisk_id) == ("pong", "52:54:00:12:34:56")
    channels = await ari.list_channels()
    assert [c.id for c in channels] == ["1.1", "1.2"]
    assert channels[0].caller_name == 'Иван "Ваня"'
    assert channels[0].caller_number == "+7 (916) 123-45-67"
    assert (channels[0].exten, channels[0].language) == ("100", "ru")
    assert fake[0].seen[0].authorization == f"Basic {TOKEN}"
    assert ari.request_count == 2


async def test_commands_and_404_409_mapping(ari: AriClient) -> None:
    await ari.answer("1.1")
    with pytest.raises(AriNotFound) as not_found:
        await ari.answer("gone.9")
    assert (not_found.value.status, not_found.value.message) == (404, "Channel not found")
    assert (not_found.value.method, not_found.value.path) == ("POST", "/channels/gone.9/answer")
    with pytest.raises(AriConflict) as conflict:
        await ari.answer("left.9")
    assert conflict.value.message == "Channel not in Stasis application"
    assert "409" in str(conflict.value)


async def test_hangup_sends_reason(fake: tuple[FakeAsterisk, str], ari: AriClient) -> None:
    await ari.hangup("1.1", reason="busy")
    assert fake[0].seen[-1].query == {"reason": "busy"}


async def test_claim_first_wins_second_conflicts(
    fake: tuple[FakeAsterisk, str], ari: AriClient
) -> None:
    await ari.claim("7.7")
    assert fake[0].seen[-1].query == {"channelId": "7.7", "application": APP}
    with pytest.raises(AriConflict, match="already been claimed"):
        await ari.claim("7.7")


async def test_originate_sends_json_body_and_maps_500(
    fake: tuple[FakeAsterisk, str], ari: AriClient
) -> None:
    leg = await ari.originate(
        "PJSIP/op1001",
        channel_id="op-1.1",
        app_args=["operator", "call-1.1"],
        timeout_s=20,
        caller_id='"Clinic" <+74951234567>',
        variables={"ROUTER_STATE": "ringing,op=1001"},
    )
    assert leg.id == "op-1.1"
    body = fake[0].seen[-1].body
    assert body == {
        "endpoint": "PJSIP/op1001",
        "app": APP,
        "channelId": "op-1.1",
        "timeout": 20,
        "appArgs": "operator,call-1.1",
        "callerId": '"Clinic" <+74951234567>',
        "variables": {"ROUTER_STATE": "ringing,op=1001"},
    }
    with pytest.raises(AriServerError) as failed:
        await ari.originate("PJSIP/op1006", channel_id="op-2", app_args=[], timeout_s=20)
    assert (failed.value.status, failed.value.message) == (500, "Allocation failed")
    with pytest.raises(ValueError):
        await ari.originate("PJSIP/op1001", channel_id="x", app_args=["a,b"], timeout_s=20)
    with pytest.raises(ValueError):
        await ari.originate("PJSIP/op1001", channel_id="x", app_args=[], timeout_s=0)


async def test_play_keeps_commas_in_tone_strings(
    fake: tuple[FakeAsterisk, str], ari: AriClient
) -> None:
    playback = await ari.play(
        "1.1", ["tone:425/1000,0/4000", "sound:beep"], lang="ru", playback_id="pb-1"
    )
    assert (playback.id, playback.state, playback.channel_id) == ("pb-1", "queued", "1.1")
    assert fake[0].seen[-1].body == {
        "media": ["tone:425/1000,0/4000", "sound:beep"],
        "lang": "ru",
        "playbackId": "pb-1",
    }
    assert fake[0].seen[-1].query == {}


async def test_get_variable(ari: AriClient) -> None:
    assert await ari.get_variable("1.1", "DID") == "100"
    assert await ari.get_variable("1.1", "ROUTER_STATE") is None
    with pytest.raises(AriNotFound):
        await ari.get_variable("gone.9", "DID")


async def test_event_filter_body(fake: tuple[FakeAsterisk, str], ari: AriClient) -> None:
    app = await ari.set_event_filter(["StasisStart", "StasisEnd", "StasisStart"])
    assert fake[0].seen[-1].body == {
        "allowed": [{"type": "StasisStart"}, {"type": "StasisEnd"}, {"type": "ApplicationReplaced"}]
    }
    assert app.events_allowed == ("StasisStart", "StasisEnd", "ApplicationReplaced")
    await ari.set_event_filter([])
    assert fake[0].seen[-1].body == {"allowed": []}


async def test_bridges_endpoints_and_4xx_5xx(
    fake: tuple[FakeAsterisk, str], ari: AriClient
) -> None:
    bridge = await ari.create_bridge("b1", name="call")
    assert (bridge.id, bridge.bridge_type, bridge.channel_ids) == ("b1", "mixing", ())
    await ari.add_channel("b1", ["1.1", "op-1.1"])
    assert fake[0].seen[-1].query == {"channel": "1.1,op-1.1"}
    with pytest.raises(AriServerError, match="Unable to create bridge"):
        await ari.create_bridge("b2", bridge_type="bogus")
    with pytest.raises(AriBadRequest, match="Channel not found"):
        await ari.add_channel("b1", ["nope.1"])
    with pytest.raises(AriError) as invalid_state:
        await ari.ring("1.1")
    assert (type(invalid_state.value), invalid_state.value.status) == (AriError, 412)
    with pytest.raises(AriBadRequest) as unprocessable:
        await ari.subscribe("channel:nope")
    assert unprocessable.value.status == 422
    assert [e.resource for e in await ari.list_endpoints()] == ["op1001"]
    assert (await ari.get_endpoint("PJSIP", "op1001")).state == "offline"
    with pytest.raises(AriNotFound, match="Invalid method"):
        await ari.get_application("nope")
    with pytest.raises(AriUnavailable) as unavailable:
        await ari._http.request("GET", ("deviceStates",))
    assert unavailable.value.status == 503


async def test_timeout_is_unavailable(ari: AriClient) -> None:
    with pytest.raises(AriUnavailable) as timed_out:
        await ari.list_bridges(request_timeout=0.1)
    assert timed_out.value.status == 0
    assert "no reply within 0.1 s" in str(timed_out.value)


async def test_connection_refused_is_unavailable(session: aiohttp.ClientSession) -> None:
    ari = AriClient(session, f"http://127.0.0.1:{free_port()}/ari", USER, PASSWORD, APP)
    with pytest.raises(AriUnavailable) as refused:
        await ari.ping()
    assert refused.value.status == 0


async def test_wrong_password_is_unauthorized(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession
) -> None:
    ari = AriClient(session, fake[1], USER, "wrong", APP)
    with pytest.raises(AriUnauthorized) as denied:
        await ari.ping()
    assert (denied.value.status, denied.value.message) == (401, "Authentication required")
    assert isinstance(denied.value, AriError)


def test_credentials_in_base_url_are_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError) as refused:
        AriClient(session, f"http://{USER}:{PASSWORD}@127.0.0.1:8088/ari", USER, PASSWORD, APP)
    assert PASSWORD not in str(refused.value)


async def test_credentials_never_logged(
    fake: tuple[FakeAsterisk, str],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ari = AriClient(session, fake[1], USER, PASSWORD, APP)
    errors: list[BaseException] = []
    await ari.list_channels()
    for attempt in (
        ari.answer("gone.9"),
        ari.list_bridges(request_timeout=0.05),
        AriClient(session, fake[1], USER, PASSWORD + "x", APP).ping(),
    ):
        try:
            await attempt
        except AriError as exc:
            errors.append(exc)
    assert len(errors) == 3
    assert any("ARI GET /channels" in r.getMessage() for r in caplog.records)
    texts = [caplog.text, repr(ari), *(str(e) for e in errors), *(repr(e) for e in errors)]
    for text in texts:
        assert PASSWORD not in text
        assert TOKEN not in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- WebSocket event stream --------------------------------------------------------------------


class Recorder:
    """The three callbacks of AriEventStream.run, recording what happened in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.events: list[Event] = []
        self.jitter_ceilings: list[float] = []
        self.gate: asyncio.Event | None = None  # on_connected waits for it when set

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.log.append(event.type)

    async def on_connected(self) -> None:
        self.log.append("connected")
        if self.gate is not None:
            await self.gate.wait()
            self.log.append("on_connected done")

    def on_disconnected(self) -> None:
        self.log.append("disconnected")

    def jitter(self, low: float, high: float) -> float:
        self.jitter_ceilings.append(high)
        return high

    async def until(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        """Poll a condition under a deadline (the callbacks are plain functions)."""
        async with asyncio.timeout(seconds):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.005)


def make_stream(
    session: aiohttp.ClientSession,
    base_url: str,
    rec: Recorder,
    *,
    password: str = PASSWORD,
    heartbeat: float = 5.0,
) -> AriEventStream:
    return AriEventStream(
        session,
        base_url,
        USER,
        password,
        APP,
        heartbeat=heartbeat,
        backoff_initial=0.01,
        backoff_max=0.05,
        jitter=rec.jitter,
    )


@pytest.fixture
async def running() -> AsyncIterator[Callable[[AriEventStream, Recorder], asyncio.Task[None]]]:
    """Starts stream.run() as a task and makes sure it is cancelled and awaited."""
    tasks: list[asyncio.Task[None]] = []

    def start(stream: AriEventStream, rec: Recorder) -> asyncio.Task[None]:
        task = asyncio.create_task(stream.run(rec.on_event, rec.on_connected, rec.on_disconnected))
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, ApplicationReplacedError):
            await task


async def drain(ws: web.WebSocketResponse) -> None:
    """Keep the socket open, answering pings, until the client closes it."""
    async for _ in ws:
        pass


async def test_stream_delivers_typed_events_in_order(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
        for digit in "15#":
            await ws.send_json(
                event(
                    "ChannelDtmfReceived",
                    digit=digit,
                    duration_ms=280,
                    channel=channel("1.1", state="Up"),
                )
            )
        await ws.send_str("not json {")
        await ws.send_json(event("ChannelTalkingStarted", channel=channel("1.1")))
        await ws.send_json(event("StasisEnd", channel=channel("1.1")))
        await drain(ws)

    asterisk.ws_script = script
    rec = Recorder()
    stream = make_stream(session, base, rec)
    task = running(stream, rec)
    await rec.until(lambda: len(rec.events) == 6)
    assert rec.log == [
        "connected",
        "StasisStart",
        "ChannelDtmfReceived",
        "ChannelDtmfReceived",
        "ChannelDtmfReceived",
        "ChannelTalkingStarted",
        "StasisEnd",
    ]
    assert isinstance(rec.events[0], StasisStart)
    assert rec.events[0].channel.caller_name == 'Иван "Ваня"'
    assert [e.digit for e in rec.events[1:4] if isinstance(e, ChannelDtmfReceived)] == list("15#")
    assert isinstance(rec.events[5], StasisEnd)
    assert rec.events[4].channel_ids() == ("1.1",)
    assert (stream.connected, stream.connects) == (True, 1)
    handshake = next(r for r in asterisk.seen if r.path == "/ari/events")
    assert handshake.query == {"app": APP, "subscribeAll": "false"}
    assert handshake.authorization == f"Basic {TOKEN}"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.log[-1] == "disconnected"
    assert stream.connected is False


async def test_reconnects_after_close_and_reruns_on_connected(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 1:
            await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
            return  # Asterisk restarts: the socket closes
        await ws.send_json(event("StasisEnd", channel=channel("2.2")))
        await drain(ws)

    asterisk.ws_script = script
    rec = Recorder()
    stream = make_stream(session, base, rec)
    running(stream, rec)
    await rec.until(lambda: len(rec.events) == 2)
    assert rec.log == ["connected", "StasisStart", "disconnected", "connected", "StasisEnd"]
    assert stream.connects == 2
    assert rec.jitter_ceilings == [0.01]  # a healthy connection resets the backoff


async def test_503_while_asterisk_boots_then_connects(
    fake: tuple[FakeAsterisk, str],
    session: aiohttp.ClientSession,
    running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    asterisk, base = fake
    asterisk.ws_refusals = [503, 503, 503, 503]

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
        await drain(ws)

    asterisk.ws_script = script
    rec = Recorder()
    stream = make_stream(session, base, rec)
    running(stream, rec)
    await rec.until(lambda: len(rec.events) == 1)
    assert stream.connects == 1
    assert rec.jitter_ceilings == [0.01, 0.02, 0.04, 0.05]  # exponential, capped
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "503" in r.message]
    assert len(warnings) == 1  # the same failure repeats at debug only
    assert PASSWORD not in caplog.text
    assert TOKEN not in caplog.text


async def test_connection_refused_until_asterisk_starts(
    session: aiohttp.ClientSession, running: Any
) -> None:
    port = free_port()
    rec = Recorder()
    stream = make_stream(session, f"http://127.0.0.1:{port}/ari", rec)
    task = running(stream, rec)
    await rec.until(lambda: len(rec.jitter_ceilings) >= 2)
    assert not stream.connected
    asterisk = FakeAsterisk()

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
        await drain(ws)

    asterisk.ws_script = script
    server = TestServer(asterisk.app(), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await rec.until(lambda: len(rec.events) == 1)
        assert stream.connected
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await server.close()


async def test_application_replaced_is_fatal(
    fake: tuple[FakeAsterisk, str],
    session: aiohttp.ClientSession,
    running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    asterisk, base = fake

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
        await rec.until(lambda: "StasisStart" in rec.log)  # delivered live, then replaced
        await ws.send_json({"type": "ApplicationReplaced", "timestamp": TS, "application": APP})
        await drain(ws)  # Asterisk leaves the replaced socket open

    asterisk.ws_script = script
    rec = Recorder()
    stream = make_stream(session, base, rec)
    task = running(stream, rec)
    with pytest.raises(ApplicationReplacedError):
        async with asyncio.timeout(5):
            await task
    assert rec.log == ["connected", "StasisStart", "disconnected"]
    assert asterisk.ws_connections == 1
    assert stream.connected is False
    assert any(
        r.levelno == logging.ERROR and "ApplicationReplaced" in r.message for r in caplog.records
    )


async def test_events_during_on_connected_are_held_then_delivered_in_order(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake
    rec = Recorder()
    rec.gate = asyncio.Event()
    seen_when_done: list[int] = []

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        for i in range(3):
            await ws.send_json(event("StasisStart", args=[str(i)], channel=channel(f"1.{i}")))
        # the client reads them and holds them while on_connected waits
        await rec.until(lambda: len(stream._held or ()) == 3)
        seen_when_done.append(len(rec.events))
        assert rec.gate is not None
        rec.gate.set()
        await ws.send_json(event("StasisStart", args=["3"], channel=channel("1.3")))
        await drain(ws)

    asterisk.ws_script = script
    stream = make_stream(session, base, rec)
    running(stream, rec)
    await rec.until(lambda: len(rec.events) == 4)
    assert seen_when_done == [0]
    assert rec.log == ["connected", "on_connected done", *["StasisStart"] * 4]
    assert [e.channel_ids() for e in rec.events] == [("1.0",), ("1.1",), ("1.2",), ("1.3",)]


async def test_close_during_on_connected_still_delivers_held_events(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake
    rec = Recorder()
    rec.gate = asyncio.Event()

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 1:  # Asterisk restarting: hangs up its calls, then the socket goes
            await ws.send_json(event("StasisEnd", channel=channel("1.1")))
            await ws.send_json(
                event(
                    "ChannelDestroyed",
                    cause=16,
                    cause_txt="Normal Clearing",
                    channel=channel("1.1"),
                )
            )
            return
        await ws.send_json(event("StasisStart", args=[], channel=channel("2.1")))
        await drain(ws)

    asterisk.ws_script = script
    stream = make_stream(session, base, rec)
    running(stream, rec)
    # the server has closed the socket and both events are held: on_connected still waits
    await rec.until(lambda: asterisk.ws_closed == 1 and len(stream._held or ()) == 2)
    assert rec.log == ["connected"]
    rec.gate.set()
    await rec.until(lambda: len(rec.events) == 3)
    assert rec.log == [
        "connected",
        "on_connected done",
        "StasisEnd",
        "ChannelDestroyed",
        "disconnected",
        "connected",
        "on_connected done",
        "StasisStart",
    ]


async def test_on_connected_failure_reconnects(
    fake: tuple[FakeAsterisk, str],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    asterisk, base = fake
    rec = Recorder()

    async def on_connected() -> None:
        rec.log.append("connected")
        if stream.connects == 1:
            await rec.until(lambda: len(stream._held or ()) == 1)  # the first event, held
            raise RuntimeError("reconcile failed")

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel(f"{n}.1")))
        await drain(ws)

    asterisk.ws_script = script
    stream = make_stream(session, base, rec)
    task = asyncio.create_task(stream.run(rec.on_event, on_connected, rec.on_disconnected))
    try:
        await rec.until(lambda: len(rec.events) == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rec.log[:5] == ["connected", "StasisStart", "disconnected", "connected", "StasisStart"]
    assert [e.channel_ids() for e in rec.events] == [("1.1",), ("2.1",)]
    assert any("on_connected failed" in r.message and r.exc_info for r in caplog.records)


async def test_on_event_exception_does_not_stop_the_stream(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_json(event("StasisStart", args=[], channel=channel("1.1")))
        await ws.send_json(event("StasisEnd", channel=channel("1.1")))
        await drain(ws)

    asterisk.ws_script = script
    rec = Recorder()
    delivered: list[str] = []

    def on_event(e: Event) -> None:
        delivered.append(e.type)
        if e.type == "StasisStart":
            raise KeyError("engine bug")

    stream = make_stream(session, base, rec)
    task = asyncio.create_task(stream.run(on_event, rec.on_connected, rec.on_disconnected))
    try:
        await rec.until(lambda: len(delivered) == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert delivered == ["StasisStart", "StasisEnd"]
    assert stream.connects == 1


async def test_heartbeat_detects_a_silent_peer(
    fake: tuple[FakeAsterisk, str], session: aiohttp.ClientSession, running: Any
) -> None:
    asterisk, base = fake

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 1:
            await asterisk.release.wait()  # never reads: no pong, like a half-open TCP peer
            return
        await ws.send_json(event("StasisStart", args=[], channel=channel("2.1")))
        await drain(ws)

    asterisk.ws_script = script
    rec = Recorder()
    stream = make_stream(session, base, rec, heartbeat=0.2)
    running(stream, rec)
    await rec.until(lambda: len(rec.events) == 1, seconds=3)
    assert rec.log == ["connected", "disconnected", "connected", "StasisStart"]
    assert stream.connects == 2


async def test_wrong_credentials_logged_once_retried_slowly(
    fake: tuple[FakeAsterisk, str],
    session: aiohttp.ClientSession,
    running: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    asterisk, base = fake
    rec = Recorder()
    stream = make_stream(session, base, rec, password="wrong-secret")
    running(stream, rec)
    await rec.until(lambda: len([r for r in asterisk.seen if r.path == "/ari/events"]) >= 3)
    assert stream.connects == 0
    assert rec.jitter_ceilings == []  # 401 waits the maximum backoff, without jitter
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "401" in errors[0].message
    wrong_token = base64.b64encode(f"{USER}:wrong-secret".encode()).decode()
    assert "wrong-secret" not in caplog.text
    assert wrong_token not in caplog.text
    assert "wrong-secret" not in repr(stream)
