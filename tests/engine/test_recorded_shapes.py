"""Our ARI parsers read what Asterisk 22 really sent (the recordings the fake serves)."""

from __future__ import annotations

import json

import pytest

from router.ari import events as ev
from router.ari.models import Application, AsteriskPing, Bridge, Channel, Endpoint, Playback
from tests.fakeari import recorded

EVENTS = json.loads((recorded.DATA_DIR / "events.json").read_text(encoding="utf-8"))["events"]
MODELLED = {
    "StasisStart": ev.StasisStart,
    "StasisEnd": ev.StasisEnd,
    "ChannelDestroyed": ev.ChannelDestroyed,
    "ChannelHangupRequest": ev.ChannelHangupRequest,
    "ChannelStateChange": ev.ChannelStateChange,
    "ChannelDtmfReceived": ev.ChannelDtmfReceived,
    "ChannelEnteredBridge": ev.ChannelEnteredBridge,
    "ChannelLeftBridge": ev.ChannelLeftBridge,
    "PlaybackStarted": ev.PlaybackStarted,
    "PlaybackContinuing": ev.PlaybackContinuing,
    "PlaybackFinished": ev.PlaybackFinished,
    "Dial": ev.Dial,
    "CallBroadcast": ev.CallBroadcast,
    "ChannelVarset": ev.ChannelVarset,
    "ApplicationReplaced": ev.ApplicationReplaced,
}


def test_the_recordings_name_their_asterisk() -> None:
    assert recorded.asterisk_version().startswith("22.")


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_recorded_event_parses_into_its_type(name: str) -> None:
    event = ev.parse_event(EVENTS[name])
    kind = name.split(":")[0]
    assert isinstance(event, MODELLED.get(kind, ev.UnknownEvent)), event
    if isinstance(event, ev.ChannelEvent):
        assert event.channel.id and event.channel_ids()[0] == event.channel.id


def test_what_the_engine_reads_from_the_recorded_events() -> None:
    busy = ev.parse_event(EVENTS["ChannelDestroyed:busy"])
    assert isinstance(busy, ev.ChannelDestroyed) and (busy.cause, busy.tech_cause) == (17, 486)
    rang_out = ev.parse_event(EVENTS["ChannelDestroyed:noanswer"])
    assert isinstance(rang_out, ev.ChannelDestroyed) and rang_out.cause == 19
    leg = ev.parse_event(EVENTS["StasisStart:operator"])
    assert isinstance(leg, ev.StasisStart) and leg.args[0] == "operator"
    offer = ev.parse_event(EVENTS["CallBroadcast"])
    assert isinstance(offer, ev.CallBroadcast)
    assert (offer.channel.exten, offer.channel.channelvars["DID"]) == (offer.called,) * 2
    played = ev.parse_event(EVENTS["PlaybackFinished"])
    assert isinstance(played, ev.PlaybackFinished) and played.playback.channel_id


def test_every_recorded_reply_parses_into_its_model() -> None:
    assert Channel.from_json(recorded.body("channel")).exten == "74952232222"
    assert Channel.from_json(recorded.body("originate_busy")).state == "Down"
    assert Bridge.from_json(recorded.body("bridge")).channel_ids
    assert Playback.from_json(recorded.body("play")).channel_id
    assert Application.from_json(recorded.body("application")).channel_ids
    assert Endpoint.from_json(recorded.body("endpoint_in_call")).channel_ids
    assert AsteriskPing.from_json(recorded.body("asterisk_ping")).ping == "pong"
