"""Parsing ARI events as Asterisk 22 sends them over the WebSocket.

The samples follow Asterisk 22's event model (rest-api/api-docs/events.json) and the
shapes recorded in the sandbox (asterisk-behaviour): channel objects with caller/connected/dialplan,
``channelvars`` from ari.conf, ``tech_cause`` on hangups, StasisBroadcast's CallBroadcast.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from router.ari.events import (
    ApplicationRegistered,
    ApplicationReplaced,
    CallBroadcast,
    CallClaimed,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from router.ari.models import Application, Bridge, Channel, Playback

APP = "clinic-router"
TS = "2026-11-10T09:15:02.118+0300"


def channel_json(
    channel_id: str = "1762755302.17",
    *,
    name: str = "PJSIP/trunk-00000008",
    state: str = "Ring",
    caller_name: str = "",
    caller_number: str = "+79161234567",
    exten: str = "84951234567",
    app_name: str = "StasisBroadcast",
) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": name,
        "state": state,
        "protocol_id": "1-3141@127.0.0.1",
        "caller": {"name": caller_name, "number": caller_number},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "clinic-router-entry",
            "exten": exten,
            "priority": 2,
            "app_name": app_name,
            "app_data": "1000,^clinic-router",
        },
        "creationtime": "2026-11-10T09:15:01.998+0300",
        "language": "en",
        "channelvars": {"ROUTER_TAG": "", "DID": exten},
    }


def wire(event: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON text, as the WebSocket delivers it."""
    delivered: dict[str, Any] = json.loads(
        json.dumps({**event, "asterisk_id": "52:54:00:12:34:56"})
    )
    return delivered


BRIDGE = {
    "id": "call-1762755302.17",
    "technology": "simple_bridge",
    "bridge_type": "mixing",
    "bridge_class": "stasis",
    "creator": "Stasis",
    "name": "call",
    "channels": ["1762755302.17", "1762755303.18"],
    "creationtime": "2026-11-10T09:15:03.001+0300",
    "video_mode": "none",
}


def test_stasis_start_from_stasis_broadcast() -> None:
    event = parse_event(
        wire(
            {
                "type": "StasisStart",
                "timestamp": TS,
                "args": [],
                "channel": channel_json(),
                "application": APP,
            }
        )
    )
    assert isinstance(event, StasisStart)
    assert (event.type, event.application, event.timestamp) == ("StasisStart", APP, TS)
    assert event.args == ()
    assert event.replace_channel is None
    ch = event.channel
    assert ch.id == "1762755302.17"
    assert ch.name == "PJSIP/trunk-00000008"
    assert ch.state == "Ring"
    assert (ch.caller_number, ch.caller_name) == ("+79161234567", "")
    assert (ch.exten, ch.context, ch.priority) == ("84951234567", "clinic-router-entry", 2)
    assert ch.app_name == "StasisBroadcast"
    assert ch.language == "en"
    assert ch.protocol_id == "1-3141@127.0.0.1"
    assert ch.channelvars == {"ROUTER_TAG": "", "DID": "84951234567"}
    assert event.channel_ids() == ("1762755302.17",)


def test_stasis_start_of_originated_operator_leg_with_args() -> None:
    operator = channel_json(
        "1762755303.18",
        name="PJSIP/op1001-00000009",
        state="Up",
        caller_number="",
        exten="s",
        app_name="AppDial2",
    )
    event = parse_event(
        wire(
            {
                "type": "StasisStart",
                "timestamp": TS,
                "args": ["operator", "call-1762755302.17", ""],
                "channel": operator,
                "application": APP,
            }
        )
    )
    assert isinstance(event, StasisStart)
    assert event.args == ("operator", "call-1762755302.17", "")
    assert event.channel.state == "Up"


def test_stasis_start_with_replace_channel_concerns_both() -> None:
    event = parse_event(
        {
            "type": "StasisStart",
            "timestamp": TS,
            "args": [],
            "channel": channel_json("2.2"),
            "replace_channel": channel_json("1.1"),
            "application": APP,
        }
    )
    assert isinstance(event, StasisStart)
    assert event.channel_ids() == ("2.2", "1.1")


ODD_CALLERS = [
    # (name, number) exactly as Asterisk reported them in the sandbox (asterisk-behaviour §7)
    ("Иван Петров", "+7 (916) 123-45-67"),
    ("😀 caller", "89161234567"),
    ("bad\ufffd\ufffdbytes", ""),
    ('O\'Brien \\"Bob\\"', "1'OR'1'='1"),
    ("<script>alert(1)</script>", "*123#"),
    ("Anonymous", "anonymous"),
    ("N" * 79, "7" * 79),
    ("", "123,456"),
]


def test_odd_caller_ids_are_kept_verbatim() -> None:
    for name, number in ODD_CALLERS:
        event = parse_event(
            wire(
                {
                    "type": "StasisStart",
                    "timestamp": TS,
                    "args": [],
                    "channel": channel_json(caller_name=name, caller_number=number),
                    "application": APP,
                }
            )
        )
        assert isinstance(event, StasisStart)
        assert event.channel.caller_name == name
        assert event.channel.caller_number == number


def test_channel_with_missing_and_extra_fields() -> None:
    channel = Channel.from_json(
        {"id": "9.9", "caller": None, "dialplan": {"exten": 100}, "tenantid": "x", "new": [1]}
    )
    assert channel.id == "9.9"
    assert channel.caller_number == ""
    assert channel.exten == "100"
    assert channel.priority is None
    assert channel.channelvars == {}


def test_stasis_end_and_channel_destroyed_busy_operator() -> None:
    end = parse_event(
        wire({"type": "StasisEnd", "timestamp": TS, "channel": channel_json(), "application": APP})
    )
    assert isinstance(end, StasisEnd)
    destroyed = parse_event(
        wire(
            {
                "type": "ChannelDestroyed",
                "timestamp": TS,
                "cause": 17,
                "cause_txt": "User busy",
                "tech_cause": 486,
                "channel": channel_json("1762755303.18", state="Down"),
                "application": APP,
            }
        )
    )
    assert isinstance(destroyed, ChannelDestroyed)
    assert (destroyed.cause, destroyed.cause_txt, destroyed.tech_cause) == (17, "User busy", 486)
    assert destroyed.channel_ids() == ("1762755303.18",)


def test_channel_destroyed_without_tech_cause() -> None:
    event = parse_event(
        {
            "type": "ChannelDestroyed",
            "timestamp": TS,
            "cause": 16,
            "cause_txt": "Normal Clearing",
            "channel": channel_json(),
            "application": APP,
        }
    )
    assert isinstance(event, ChannelDestroyed)
    assert event.tech_cause is None


def test_hangup_request_on_asterisk_shutdown_is_soft_cause_4() -> None:
    event = parse_event(
        wire(
            {
                "type": "ChannelHangupRequest",
                "timestamp": TS,
                "soft": True,
                "cause": 4,
                "channel": channel_json(state="Up"),
                "application": APP,
            }
        )
    )
    assert isinstance(event, ChannelHangupRequest)
    assert (event.soft, event.cause, event.tech_cause) == (True, 4, None)
    caller_bye = parse_event(
        {
            "type": "ChannelHangupRequest",
            "timestamp": TS,
            "cause": 16,
            "channel": channel_json(),
            "application": APP,
        }
    )
    assert isinstance(caller_bye, ChannelHangupRequest)
    assert caller_bye.soft is False


def test_state_change_and_dtmf() -> None:
    state = parse_event(
        wire(
            {
                "type": "ChannelStateChange",
                "timestamp": TS,
                "channel": channel_json(state="Up"),
                "application": APP,
            }
        )
    )
    assert isinstance(state, ChannelStateChange)
    assert state.channel.state == "Up"
    dtmf = parse_event(
        wire(
            {
                "type": "ChannelDtmfReceived",
                "timestamp": TS,
                "digit": "#",
                "duration_ms": 280,
                "channel": channel_json(state="Up"),
                "application": APP,
            }
        )
    )
    assert isinstance(dtmf, ChannelDtmfReceived)
    assert (dtmf.digit, dtmf.duration_ms) == ("#", 280)
    assert dtmf.channel_ids() == ("1762755302.17",)


def test_bridge_enter_and_leave() -> None:
    entered = parse_event(
        wire(
            {
                "type": "ChannelEnteredBridge",
                "timestamp": TS,
                "bridge": BRIDGE,
                "channel": channel_json("1762755303.18"),
                "application": APP,
            }
        )
    )
    assert isinstance(entered, ChannelEnteredBridge)
    assert entered.bridge.channel_ids == ("1762755302.17", "1762755303.18")
    assert (entered.bridge.bridge_type, entered.bridge.technology) == ("mixing", "simple_bridge")
    assert entered.channel_ids() == ("1762755303.18",)
    assert entered.bridge_ids() == ("call-1762755302.17",)
    left = parse_event(
        wire(
            {
                "type": "ChannelLeftBridge",
                "timestamp": TS,
                "bridge": {**BRIDGE, "channels": []},
                "channel": channel_json(),
                "application": APP,
            }
        )
    )
    assert isinstance(left, ChannelLeftBridge)
    assert left.bridge.channel_ids == ()
    no_channel = parse_event({"type": "ChannelEnteredBridge", "bridge": BRIDGE})
    assert isinstance(no_channel, ChannelEnteredBridge)
    assert no_channel.channel_ids() == ()


def test_playback_events_route_to_their_target() -> None:
    playback = {
        "id": "pb-1762755302.17-1",
        "media_uri": "sound:hello-world",
        "next_media_uri": "sound:beep",
        "target_uri": "channel:1762755302.17",
        "language": "ru",
        "state": "playing",
    }
    started = parse_event(
        wire({"type": "PlaybackStarted", "timestamp": TS, "playback": playback, "application": APP})
    )
    assert isinstance(started, PlaybackStarted)
    assert started.playback.id == "pb-1762755302.17-1"
    assert started.channel_ids() == ("1762755302.17",)
    assert started.bridge_ids() == ()
    cont = parse_event({"type": "PlaybackContinuing", "playback": playback})
    assert isinstance(cont, PlaybackContinuing)
    failed = parse_event(
        wire(
            {
                "type": "PlaybackFinished",
                "timestamp": TS,
                "application": APP,
                "playback": {**playback, "target_uri": "bridge:call-1", "state": "failed"},
            }
        )
    )
    assert isinstance(failed, PlaybackFinished)
    assert failed.playback.state == "failed"
    assert failed.channel_ids() == ()
    assert failed.bridge_ids() == ("call-1",)


def test_dial_of_originated_operator_has_no_caller() -> None:
    peer = channel_json("1762755303.18", name="PJSIP/op1001-00000009", state="Down")
    ringing = parse_event(
        wire(
            {
                "type": "Dial",
                "timestamp": TS,
                "dialstatus": "RINGING",
                "forward": "",
                "dialstring": "op1001",
                "peer": peer,
                "application": APP,
            }
        )
    )
    assert isinstance(ringing, Dial)
    assert ringing.caller is None
    assert (ringing.dialstatus, ringing.dialstring) == ("RINGING", "op1001")
    assert ringing.channel_ids() == ("1762755303.18",)
    with_caller = parse_event(
        {"type": "Dial", "dialstatus": "ANSWER", "peer": peer, "caller": channel_json()}
    )
    assert isinstance(with_caller, Dial)
    assert with_caller.channel_ids() == ("1762755303.18", "1762755302.17")


def test_call_broadcast_and_claimed() -> None:
    broadcast = parse_event(
        wire(
            {
                "type": "CallBroadcast",
                "timestamp": TS,
                "channel": channel_json(),
                "caller": "+79161234567",
                "called": "84951234567",
                "application": APP,
            }
        )
    )
    assert isinstance(broadcast, CallBroadcast)
    assert (broadcast.caller, broadcast.called) == ("+79161234567", "84951234567")
    assert broadcast.channel_ids() == ("1762755302.17",)
    bare = parse_event({"type": "CallBroadcast", "channel": channel_json()})
    assert isinstance(bare, CallBroadcast)
    assert (bare.caller, bare.called) == (None, None)
    claimed = parse_event({"type": "CallClaimed", "channel": channel_json(), "winner_app": APP})
    assert isinstance(claimed, CallClaimed)
    assert claimed.winner_app == APP


def test_channel_varset_channel_and_global() -> None:
    on_channel = parse_event(
        wire(
            {
                "variable": "ROUTER_STATE",
                "value": "queued,prio=1",
                "type": "ChannelVarset",
                "timestamp": TS,
                "channel": channel_json(),
                "application": APP,
            }
        )
    )
    assert isinstance(on_channel, ChannelVarset)
    assert (on_channel.variable, on_channel.value) == ("ROUTER_STATE", "queued,prio=1")
    assert on_channel.channel_ids() == ("1762755302.17",)
    global_var = parse_event({"type": "ChannelVarset", "variable": "G", "value": "1"})
    assert isinstance(global_var, ChannelVarset)
    assert global_var.channel is None
    assert global_var.channel_ids() == ()


def test_application_events() -> None:
    replaced = parse_event({"type": "ApplicationReplaced", "timestamp": TS, "application": APP})
    assert isinstance(replaced, ApplicationReplaced)
    assert replaced.application == APP
    assert replaced.channel_ids() == ()
    registered = parse_event({"type": "ApplicationRegistered", "timestamp": TS, "application": APP})
    assert isinstance(registered, ApplicationRegistered)


def test_unknown_event_keeps_raw_and_routes_by_channel() -> None:
    raw = wire(
        {
            "type": "ChannelTalkingStarted",
            "timestamp": TS,
            "channel": channel_json(),
            "application": APP,
        }
    )
    event = parse_event(raw)
    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelTalkingStarted"
    assert event.raw == raw
    assert event.channel_ids() == ("1762755302.17",)
    bridge_event = parse_event({"type": "BridgeDestroyed", "bridge": BRIDGE})
    assert isinstance(bridge_event, UnknownEvent)
    assert bridge_event.bridge_ids() == ("call-1762755302.17",)


def test_malformed_known_events_become_unknown() -> None:
    broken: list[Any] = [
        {"type": "StasisStart", "args": []},  # no channel
        {"type": "StasisStart", "channel": {"name": "PJSIP/x"}},  # channel without id
        {"type": "StasisStart", "channel": {"id": None}},
        {"type": "StasisEnd", "channel": "1.1"},
        {"type": "Dial", "dialstatus": "RINGING"},  # no peer
        {"type": "PlaybackFinished", "playback": {"state": "done"}},  # playback without id
        {"type": "ChannelEnteredBridge", "channel": channel_json()},  # no bridge
    ]
    for raw in broken:
        event = parse_event(raw)
        assert isinstance(event, UnknownEvent), raw
        assert event.type == raw["type"]


def test_non_objects_and_odd_types_never_raise() -> None:
    odd: tuple[object, ...] = (
        [],
        "StasisStart",
        42,
        None,
        {"type": 5},
        {"no": "type"},
        {"type": None},
    )
    for raw in odd:
        event = parse_event(raw)
        assert isinstance(event, UnknownEvent)
        assert event.channel_ids() == ()


def test_odd_field_types_are_tolerated() -> None:
    event = parse_event(
        {
            "type": "ChannelDestroyed",
            "cause": "16",
            "tech_cause": True,
            "cause_txt": None,
            "channel": {**channel_json(), "channelvars": {"A": None, "B": 5}, "dialplan": []},
            "timestamp": 1731,
        }
    )
    assert isinstance(event, ChannelDestroyed)
    assert (event.cause, event.tech_cause, event.cause_txt) == (16, None, "")
    assert event.channel.channelvars == {"A": "", "B": "5"}
    assert event.channel.exten == ""
    assert event.timestamp == "1731"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
event_types = st.sampled_from(
    [
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "Dial",
        "ChannelEnteredBridge",
        "PlaybackFinished",
        "CallBroadcast",
        "ChannelVarset",
        "ChannelDtmfReceived",
        "ApplicationReplaced",
        "Whatever",
    ]
)
field_names = st.sampled_from(
    [
        "channel",
        "peer",
        "caller",
        "bridge",
        "playback",
        "args",
        "cause",
        "soft",
        "digit",
        "replace_channel",
        "value",
        "variable",
        "timestamp",
        "application",
    ]
)


# no deadline: on a busy 2-core machine (a load run beside the suite) one example can
# take over 200 ms without anything being wrong
@settings(deadline=None)
@given(
    event_types,
    st.dictionaries(field_names, json_values, max_size=6),
    st.dictionaries(
        st.sampled_from(["id", "caller", "dialplan", "channelvars", "name"]),
        json_values,
        max_size=5,
    ),
)
def test_parse_event_never_raises(
    event_type: str, fields: dict[str, Any], channel: dict[str, Any]
) -> None:
    data = {"type": event_type, **fields}
    if "channel" in data and isinstance(data["channel"], dict):
        data["channel"] = {**data["channel"], **channel}
    event = parse_event(data)
    assert isinstance(event, Event)
    assert all(isinstance(i, str) for i in event.channel_ids())
    assert all(isinstance(i, str) for i in event.bridge_ids())


def test_models_from_rest_replies() -> None:
    app = Application.from_json(
        {
            "name": APP,
            "channel_ids": ["1.1"],
            "bridge_ids": ["b"],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [{"type": "StasisStart"}],
            "events_disallowed": [],
        }
    )
    assert app.channel_ids == ("1.1",)
    assert app.events_allowed == ("StasisStart",)
    bridge = Bridge.from_json(BRIDGE)
    assert bridge.bridge_class == "stasis"
    playback = Playback.from_json({"id": "p", "target_uri": "channel:1.1", "state": "queued"})
    assert (playback.channel_id, playback.bridge_id) == ("1.1", None)
