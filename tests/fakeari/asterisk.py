"""What the fake Asterisk does with channels and bridges, and the events that result.

Behaviour follows the recorded Asterisk 22.10 and ``docs/dev/asterisk-behaviour.md``:
* a call offered with ``StasisBroadcast`` goes to the fallback context when no app claims
  it within the broadcast timeout, or when no app is connected at all;
* events for a channel go only to the app it is in (or that originated it), only while
  that app has a WebSocket: nothing is replayed to a socket that reconnects (§1);
* an inbound caller who hangs up in Stasis gives ChannelHangupRequest, ChannelLeftBridge,
  StasisEnd and no ChannelDestroyed (recorded: the channel goes back to the dialplan);
  an originated leg also gives ChannelDestroyed (with cause 17/486 busy, 19/480 ring out);
* an originated leg enters Stasis (StasisStart with its args) only when answered;
* bridges are never destroyed by themselves, even when empty.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

from tests.fakeari import recorded
from tests.fakeari.faults import Faults
from tests.fakeari.model import FakeBridge, FakeChannel, FakePlayback, PhoneBehaviour
from tests.fakeari.recorded import Json

FALLBACK_CONTEXT = "clinic-router-fallback"
ENTRY_CONTEXT = "clinic-router-entry"
APP_PATTERN = "^clinic-router"


class Connection:
    """One event WebSocket of one app; events wait in `outbox` for the socket's writer."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.outbox: asyncio.Queue[Json | None] = asyncio.Queue()
        self.dropped = False

    def send(self, event: Json) -> None:
        self.outbox.put_nowait(event)


class FakeWorld:
    """Channels, bridges and playbacks; every change sends the events Asterisk would."""

    def __init__(self, *, time_scale: float = 0.01, playback_s: float = 0.02) -> None:
        self.time_scale = time_scale  # originate timeouts and the like, in fake seconds
        self.playback_s = playback_s  # how long a (non-tone) playback plays
        self.broadcast_timeout_s = 1.0  # the dialplan's StasisBroadcast(1000, …)
        self.channels: dict[str, FakeChannel] = {}
        self.bridges: dict[str, FakeBridge] = {}
        self.playbacks: dict[str, FakePlayback] = {}
        self.phones: dict[str, PhoneBehaviour] = {}  # endpoint -> behaviour
        self.connections: dict[str, Connection] = {}  # app -> its newest socket
        self.filters: dict[str, set[str]] = {}  # app -> allowed event types (empty: all)
        self.faults = Faults()
        self.astdb: dict[str, set[str]] = {}
        self.startup_time = ""  # GET /asterisk/info's (empty: the recorded one)
        self.log: list[tuple[str, str]] = []  # (method, path) of every REST request
        self.sent: list[Json] = []  # every event sent, in order
        self.originated: list[tuple[str, str]] = []  # (endpoint, channel id)
        self._serial = itertools.count(1)
        self._uniqueid = int(time.time())
        self._timers: list[asyncio.TimerHandle] = []
        self._change = asyncio.Event()
        self._held: list[tuple[str, Json]] = []  # (sent after this type, event): reordering

    # -- events ---------------------------------------------------------------------------

    def emit(self, name: str, app: str | None, **fields: Any) -> None:
        """Send the recorded event `name`, with `fields` replaced, to `app`'s socket."""
        if app is None:
            return
        conn = self.connections.get(app)
        event = recorded.event(name)
        event.update(fields, application=app, timestamp=recorded.now())
        if conn is None or conn.dropped:
            return  # "Inactive Stasis app missed message": nothing is replayed later
        allowed = self.filters.get(app)
        if allowed and event["type"] not in allowed:
            return
        kind = event["type"]
        if kind in self.faults.hold_back:
            self._held.append((self.faults.hold_back.pop(kind), event))
            return
        for _ in range(self.faults.duplicates(kind)):
            conn.send(event)
            self.sent.append(event)
        for after, held in [h for h in self._held if h[0] == kind]:
            self._held.remove((after, held))
            conn.send(held)
            self.sent.append(held)
        self.changed()

    def channel_event(self, name: str, ch: FakeChannel, **fields: Any) -> None:
        self.emit(name, ch.app, channel=ch.json(), **fields)

    def changed(self) -> None:
        """Wake whoever waits for a condition (`until`)."""
        self._change.set()

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `check()` holds, with a deadline. It is re-checked after every change
        of the world and at least every 10 ms (it may look at the database or the engine)."""
        async with asyncio.timeout(timeout):
            while not check():
                self._change.clear()
                try:
                    await asyncio.wait_for(self._change.wait(), 0.01)
                except TimeoutError:
                    pass

    def later(self, seconds: float, action: Callable[[], object]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(seconds, action))

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()

    # -- channels -------------------------------------------------------------------------

    def new_channel(
        self, name_prefix: str, channel_id: str | None = None, **kw: Any
    ) -> FakeChannel:
        serial = next(self._serial)
        cid = channel_id or f"{self._uniqueid}.{serial}"
        ch = FakeChannel(id=cid, name=f"{name_prefix}-{serial:08x}", **kw)
        self.channels[cid] = ch
        self.changed()
        return ch

    def live(self, channel_id: str) -> FakeChannel | None:
        ch = self.channels.get(channel_id)
        return ch if ch is not None and ch.alive else None

    def to_dialplan(self, ch: FakeChannel, context: str) -> None:
        """The channel leaves Stasis for the dialplan (continue, or an unclaimed offer)."""
        was_in_stasis = ch.location == "stasis"
        self._leave_bridge(ch)
        ch.location, ch.context = "dialplan", context
        if was_in_stasis:
            self.channel_event("StasisEnd:continue", ch)
        ch.app = None
        self.changed()

    def end(self, ch: FakeChannel, by: str, cause: int = 16) -> None:
        """Hang a channel up, with the events of the recorded hang-ups."""
        if not ch.alive:
            return
        ch.hung_up_by = by
        originated = ch.endpoint is not None
        if cause == 17:  # recorded: a busy leg's request carries the cause (17, 486)
            self.channel_event("ChannelHangupRequest", ch)
        elif cause != 19 and (ch.location == "stasis" or originated):  # a ring out has none
            self.channel_event("ChannelHangupRequest:caller", ch)
        self._fail_playbacks(ch)
        self._leave_bridge(ch)
        if ch.location == "stasis":
            self.channel_event("StasisEnd:caller", ch)
        if originated:
            name = {17: "ChannelDestroyed:busy", 19: "ChannelDestroyed:noanswer"}.get(
                cause, "ChannelDestroyed:operator"
            )
            self.channel_event(name, ch)
        ch.location, ch.state = "gone", "Down"
        self.changed()

    def shutdown(self, ch: FakeChannel) -> None:
        """The rest of an Asterisk shutdown for one channel (after its hang-up request)."""
        ch.hung_up_by = "asterisk"
        self._fail_playbacks(ch)
        if ch.location == "stasis":
            self.channel_event("StasisEnd:caller", ch)
        self._leave_bridge(ch)
        if ch.app is not None:
            self.channel_event("ChannelDestroyed:operator", ch, cause=4, cause_txt="")
        ch.location, ch.state = "gone", "Down"
        self.changed()

    def _leave_bridge(self, ch: FakeChannel) -> None:
        bridge = self.bridges.get(ch.bridge or "")
        ch.bridge = None
        if bridge is None or ch.id not in bridge.channels:
            return
        bridge.channels.remove(ch.id)
        self.channel_event("ChannelLeftBridge:caller", ch, bridge=bridge.json())

    def enter_bridge(self, bridge: FakeBridge, ch: FakeChannel) -> None:
        if ch.bridge and ch.bridge != bridge.id:
            self._leave_bridge(ch)
        if ch.id not in bridge.channels:
            bridge.channels.append(ch.id)
        ch.bridge = bridge.id
        self.channel_event("ChannelEnteredBridge:caller", ch, bridge=bridge.json())
        self.changed()

    # -- playbacks ------------------------------------------------------------------------

    def play(self, ch: FakeChannel, media: list[str], lang: str, playback_id: str | None) -> Json:
        pid = playback_id or f"pb-{next(self._serial)}"
        playback = FakePlayback(pid, media, f"channel:{ch.id}", lang or "en")
        self.playbacks[pid] = playback
        self.channel_event_playback("PlaybackStarted", ch, playback)
        if not playback.endless:
            self.later(self.playback_s, lambda: self.finish_playback(pid, "done"))
        return playback.json()

    def channel_event_playback(self, name: str, ch: FakeChannel, playback: FakePlayback) -> None:
        self.emit(name, ch.app, playback=playback.json())

    def finish_playback(self, playback_id: str, state: str) -> bool:
        playback = self.playbacks.pop(playback_id, None)
        if playback is None:
            return False
        playback.state = state
        ch = self.channels.get(playback.target.partition(":")[2])
        if ch is not None:
            self.channel_event_playback("PlaybackFinished", ch, playback)
        self.changed()
        return True

    def _fail_playbacks(self, ch: FakeChannel) -> None:
        for pid in [p for p, pb in self.playbacks.items() if pb.target == f"channel:{ch.id}"]:
            self.finish_playback(pid, "failed")

    # -- originate ------------------------------------------------------------------------

    def originate(self, body: Json) -> FakeChannel | None:
        """None: the endpoint cannot be dialled (Asterisk's 500 "Allocation failed")."""
        endpoint = str(body.get("endpoint", ""))
        timeout = float(body.get("timeout", 30))
        if endpoint.startswith("Local/"):
            return self.new_channel(
                "Local/" + endpoint[6:].split("@")[0],
                str(body.get("channelId") or "") or None,
                context=str(body.get("context", "")),
                exten=str(body.get("extension", "s")),
                location="dialplan",
            )
        behaviour = self.phones.get(endpoint.split("@")[0], self.phones.get("*", "offline"))
        if behaviour == "offline":
            return None
        caller = str(body.get("callerId") or "")
        ch = self.new_channel(
            endpoint.split("@")[0],
            str(body.get("channelId") or "") or None,
            caller_number=caller,
            connected_number=caller,
            app=str(body.get("app") or ""),
            args=[a for a in str(body.get("appArgs") or "").split(",") if a],
            endpoint=endpoint,
            app_name="AppDial2",
            app_data="(Outgoing Line)",
            state="Down",
        )
        self.originated.append((endpoint, ch.id))
        if behaviour == "answer":
            self.later(0.005, lambda: self.answer_leg(ch.id))
        elif behaviour == "busy":
            self.later(0.005, lambda: self.busy_leg(ch.id))
        elif behaviour == "never":
            self.later(timeout * self.time_scale, lambda: self.ring_out_leg(ch.id))
        else:  # manual: the test decides; Asterisk's own timeout still ends it
            ch.state = "Ringing"
        return ch

    def answer_leg(self, channel_id: str) -> None:
        ch = self.live(channel_id)
        if ch is None or ch.location != "ringing":
            return
        ch.state, ch.location = "Up", "stasis"
        self.channel_event("StasisStart:operator", ch, args=list(ch.args))
        self.changed()

    def busy_leg(self, channel_id: str) -> None:
        ch = self.live(channel_id)
        if ch is not None and ch.location == "ringing":
            self.end(ch, "asterisk", cause=17)

    def ring_out_leg(self, channel_id: str) -> None:
        ch = self.live(channel_id)
        if ch is not None and ch.location == "ringing":
            ch.state = "Ringing"
            self.end(ch, "asterisk", cause=19)

    # -- inbound calls --------------------------------------------------------------------

    def offer(self, did: str, number: str) -> FakeChannel:
        """A call arrives on the trunk and StasisBroadcast offers it to the routers."""
        ch = self.new_channel(
            "PJSIP/trunk",
            caller_number=number,
            exten=did,
            did=did,
            context=ENTRY_CONTEXT,
            app_name="StasisBroadcast",
            app_data=f"1000,{APP_PATTERN}",
            location="broadcast",
        )
        apps = [
            a for a, c in self.connections.items() if re.search(APP_PATTERN, a) and not c.dropped
        ]
        if not apps:
            self.to_dialplan(ch, FALLBACK_CONTEXT)  # "not active": the fallback at once
            return ch
        for app in apps:
            self.emit("CallBroadcast", app, channel=ch.json(), caller=number, called=did)
        self.later(self.broadcast_timeout_s, lambda: self._broadcast_over(ch.id))
        return ch

    def _broadcast_over(self, channel_id: str) -> None:
        ch = self.live(channel_id)
        if ch is not None and ch.location == "broadcast":
            self.to_dialplan(ch, FALLBACK_CONTEXT)  # STASISSTATUS=TIMEOUT

    def claim(self, channel_id: str, app: str) -> int:
        """The HTTP status of ``POST /events/claim``."""
        ch = self.live(channel_id)
        if ch is None or ch.location not in ("broadcast", "stasis"):
            return 404
        if ch.location == "stasis":
            return 409
        ch.location, ch.app = "stasis", app
        self.channel_event("StasisStart:caller", ch, args=[])
        self.changed()
        return 204
