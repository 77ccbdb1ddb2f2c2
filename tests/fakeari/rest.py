"""The ARI REST subset the router uses, served by aiohttp over the fake world.

Error replies are Asterisk's recorded ones (status and message), e.g. 400 "Channel not
found" from ``addChannel`` and 409 "Channel not in Stasis application" from ``continue``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakeari import recorded
from tests.fakeari.asterisk import FakeWorld
from tests.fakeari.model import FakeBridge, FakeChannel

WORLD = web.AppKey("world", FakeWorld)


def recorded_error(name: str) -> web.Response:
    """Asterisk's recorded error reply (status and body) for this situation."""
    reply = recorded.reply(name)
    return web.json_response(reply["body"], status=reply["status"])


def no_content() -> web.Response:
    return web.Response(status=204)


def ok(data: Any) -> web.Response:
    return web.json_response(data)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    data = json.loads(await request.read() or b"{}")
    return data if isinstance(data, dict) else {}


def _world(request: web.Request) -> FakeWorld:
    return request.app[WORLD]


def _channel(request: web.Request) -> FakeChannel | None:
    return _world(request).live(request.match_info["channel"])


def _bridge(request: web.Request) -> FakeBridge | None:
    return _world(request).bridges.get(request.match_info["bridge"])


# -- asterisk, applications, events ------------------------------------------------------------


async def ping(request: web.Request) -> web.Response:
    data = recorded.body("asterisk_ping")
    data["timestamp"] = recorded.now()
    return ok(data)


async def info(request: web.Request) -> web.Response:
    body = recorded.body("asterisk_info")
    started = _world(request).startup_time
    if started:  # restarted since the recording (`FakeAsterisk.crash_asterisk`)
        body["status"]["startup_time"] = started
    return ok(body)


async def global_variable(request: web.Request) -> web.Response:
    world = _world(request)
    variable = str((await _body(request)).get("variable", ""))
    if variable.startswith("DB_DELETE(") and variable.endswith(")"):
        family, _, key = variable[len("DB_DELETE(") : -1].partition("/")
        world.astdb.get(family, set()).discard(key)
    return no_content()


def _application(world: FakeWorld, app: str) -> dict[str, Any]:
    data = recorded.body("application_filter")
    data["name"] = app
    data["channel_ids"] = [
        c.id for c in world.channels.values() if c.app == app and c.location == "stasis"
    ]
    data["bridge_ids"] = list(world.bridges)
    data["events_allowed"] = [{"type": t} for t in sorted(world.filters.get(app, ()))]
    return data


async def application(request: web.Request) -> web.Response:
    return ok(_application(_world(request), request.match_info["app"]))


async def event_filter(request: web.Request) -> web.Response:
    world, app = _world(request), request.match_info["app"]
    allowed = (await _body(request)).get("allowed") or []
    world.filters[app] = {str(item.get("type")) for item in allowed if isinstance(item, dict)}
    return ok(_application(world, app))


async def claim(request: web.Request) -> web.Response:
    world = _world(request)
    status = world.claim(request.query.get("channelId", ""), request.query.get("application", ""))
    if status == 204:
        return no_content()
    return recorded_error("claim_missing" if status == 404 else "claim_again")


# -- endpoints ----------------------------------------------------------------------------------


def _endpoint(world: FakeWorld, tech: str, resource: str) -> dict[str, Any] | None:
    endpoint = f"{tech}/{resource}"
    behaviour = world.phones.get(endpoint)
    if behaviour is None:
        return None
    data = recorded.body("endpoint_in_call")
    data.update(technology=tech, resource=resource)
    data["state"] = "offline" if behaviour == "offline" else "online"
    data["channel_ids"] = [
        c.id for c in world.channels.values() if c.alive and c.name.startswith(endpoint + "-")
    ]
    return data


async def endpoints(request: web.Request) -> web.Response:
    world = _world(request)
    found = [_endpoint(world, *e.split("/", 1)) for e in world.phones if "/" in e]
    return ok([e for e in found if e is not None])


async def endpoint(request: web.Request) -> web.Response:
    data = _endpoint(_world(request), request.match_info["tech"], request.match_info["res"])
    return recorded_error("endpoint_missing") if data is None else ok(data)


# -- channels -----------------------------------------------------------------------------------


async def list_channels(request: web.Request) -> web.Response:
    return ok([c.json() for c in _world(request).channels.values() if c.alive])


async def get_channel(request: web.Request) -> web.Response:
    ch = _channel(request)
    return recorded_error("channel_missing") if ch is None else ok(ch.json())


async def originate(request: web.Request) -> web.Response:
    world, body = _world(request), await _body(request)
    channel_id = str(body.get("channelId") or "")
    if channel_id and world.live(channel_id) is not None:
        return web.json_response(
            {"message": "Channel with given unique ID already exists"}, status=409
        )
    ch = world.originate(body)
    return recorded_error("originate_unknown") if ch is None else ok(ch.json())


async def hangup(request: web.Request) -> web.Response:
    ch = _channel(request)
    if ch is None:
        return recorded_error("hangup_missing")
    _world(request).end(ch, "router")
    return no_content()


def _in_stasis(request: web.Request) -> FakeChannel | web.Response:
    ch = _channel(request)
    if ch is None:
        return recorded_error("answer_gone")
    if ch.location != "stasis":
        return recorded_error("continue_gone")
    return ch


async def answer(request: web.Request) -> web.Response:
    ch = _in_stasis(request)
    if isinstance(ch, web.Response):
        return ch
    if ch.state != "Up":
        ch.state = "Up"
        ch.answered_by_router = True
        _world(request).channel_event("ChannelStateChange", ch)
    return no_content()


async def channel_noop(request: web.Request) -> web.Response:
    """ring, moh, record: accepted, nothing observable here."""
    ch = _in_stasis(request)
    return ch if isinstance(ch, web.Response) else no_content()


async def continue_in_dialplan(request: web.Request) -> web.Response:
    ch = _in_stasis(request)
    if isinstance(ch, web.Response):
        return ch
    ch.exten = request.query.get("extension", ch.exten)
    _world(request).to_dialplan(ch, request.query.get("context", ""))
    return no_content()


async def play(request: web.Request) -> web.Response:
    ch = _channel(request)
    if ch is None:
        return recorded_error("play_missing")
    body = await _body(request)
    media = [str(m) for m in body.get("media") or []]
    data = _world(request).play(ch, media, str(body.get("lang") or ""), body.get("playbackId"))
    return web.json_response(data, status=201)


async def stop_playback(request: web.Request) -> web.Response:
    if _world(request).finish_playback(request.match_info["playback"], "done"):
        return no_content()
    return recorded_error("playback_stop_missing")


async def set_variable(request: web.Request) -> web.Response:
    ch = _channel(request)
    if ch is None:
        return recorded_error("variable_channel_missing")
    ch.variables[request.query.get("variable", "")] = request.query.get("value", "")
    return no_content()


async def get_variable(request: web.Request) -> web.Response:
    world, ch = _world(request), _channel(request)
    if ch is None:
        return recorded_error("variable_channel_missing")
    name = request.query.get("variable", "")
    if name.startswith("DB_KEYS(") and name.endswith(")"):
        keys = sorted(world.astdb.get(name[len("DB_KEYS(") : -1], set()))
        return ok({"value": ",".join(k.replace("\\", "\\\\").replace(",", "\\,") for k in keys)})
    if name == "DID":
        return ok({"value": ch.did})
    if name not in ch.variables:
        return recorded_error("variable_unset")
    return ok({"value": ch.variables[name]})


# -- bridges ------------------------------------------------------------------------------------


async def list_bridges(request: web.Request) -> web.Response:
    return ok([b.json() for b in _world(request).bridges.values()])


async def create_bridge(request: web.Request) -> web.Response:
    world = _world(request)
    bridge_id = request.query.get("bridgeId", "")
    if bridge_id in world.bridges:
        reply = recorded.reply("bridge_create_again")
        return web.json_response(
            {"message": f"Bridge with id '{bridge_id}' already exists"}, status=reply["status"]
        )
    bridge = FakeBridge(
        bridge_id, request.query.get("name", ""), request.query.get("type", "mixing")
    )
    world.bridges[bridge_id] = bridge
    world.changed()
    return ok(bridge.json())


async def get_bridge(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    return recorded_error("bridge_missing") if bridge is None else ok(bridge.json())


async def delete_bridge(request: web.Request) -> web.Response:
    world, bridge = _world(request), _bridge(request)
    if bridge is None:
        return recorded_error("bridge_delete_missing")
    for channel_id in list(bridge.channels):
        ch = world.channels[channel_id]
        world.channel_event("ChannelLeftBridge:caller", ch, bridge=bridge.json())
        ch.bridge = None
    del world.bridges[bridge.id]
    world.changed()
    return no_content()


async def add_channel(request: web.Request) -> web.Response:
    world, bridge = _world(request), _bridge(request)
    if bridge is None:
        return recorded_error("bridge_missing")
    wanted = [world.live(c) for c in request.query.get("channel", "").split(",")]
    if any(ch is None for ch in wanted):
        return recorded_error("bridge_add_gone")
    for ch in wanted:
        assert ch is not None
        if ch.location != "stasis":
            return web.json_response({"message": "Channel not in Stasis application"}, status=422)
        world.enter_bridge(bridge, ch)
    return no_content()


async def remove_channel(request: web.Request) -> web.Response:
    world, bridge = _world(request), _bridge(request)
    if bridge is None:
        return recorded_error("bridge_missing")
    ch = world.live(request.query.get("channel", ""))
    if ch is None or ch.id not in bridge.channels:
        return web.json_response({"message": "Channel not in this bridge"}, status=422)
    bridge.channels.remove(ch.id)
    ch.bridge = None
    world.channel_event("ChannelLeftBridge:caller", ch, bridge=bridge.json())
    return no_content()


async def bridge_moh(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    if bridge is None:
        return recorded_error("bridge_missing")
    bridge.moh = request.method == "POST"
    return no_content()


def routes() -> list[web.RouteDef]:
    c, b = "/ari/channels/{channel}", "/ari/bridges/{bridge}"
    return [
        web.get("/ari/asterisk/ping", ping),
        web.get("/ari/asterisk/info", info),
        web.post("/ari/asterisk/variable", global_variable),
        web.get("/ari/applications/{app}", application),
        web.put("/ari/applications/{app}/eventFilter", event_filter),
        web.post("/ari/events/claim", claim),
        web.get("/ari/endpoints", endpoints),
        web.get("/ari/endpoints/{tech}/{res}", endpoint),
        web.get("/ari/channels", list_channels),
        web.post("/ari/channels", originate),
        web.get(c, get_channel),
        web.delete(c, hangup),
        web.post(c + "/answer", answer),
        web.post(c + "/ring", channel_noop),
        web.delete(c + "/ring", channel_noop),
        web.post(c + "/moh", channel_noop),
        web.delete(c + "/moh", channel_noop),
        web.post(c + "/record", channel_noop),
        web.post(c + "/continue", continue_in_dialplan),
        web.post(c + "/play", play),
        web.post(c + "/variable", set_variable),
        web.get(c + "/variable", get_variable),
        web.delete("/ari/playbacks/{playback}", stop_playback),
        web.get("/ari/bridges", list_bridges),
        web.post("/ari/bridges", create_bridge),
        web.get(b, get_bridge),
        web.delete(b, delete_bridge),
        web.post(b + "/addChannel", add_channel),
        web.post(b + "/removeChannel", remove_channel),
        web.post(b + "/moh", bridge_moh),
        web.delete(b + "/moh", bridge_moh),
    ]
