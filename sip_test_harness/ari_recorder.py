"""Record what a real Asterisk answers and sends over ARI, for the fake Asterisk of the
engine tier (``tests/fakeari``): REST replies (success and error bodies) and one sample
of every event type, from real calls placed with SIPp into the sandbox.

    .venv/bin/python -m sip_test_harness.ari_recorder [--out tests/data/ari]

It takes the sandbox lock, brings the sandbox up if it was down (and takes it down again
afterwards; a sandbox that was up is left up), starts phones op1001 (answers), op1002
(busy) and op1003 (never answers), and places two calls:

1. claimed, answered, a prompt, the caller presses 1, the caller is put in a bridge with
   music, op1002 (busy) and op1003 (no answer) are rung, op1001 answers and is bridged,
   the caller hangs up;
2. claimed, answered and handed to the dialplan fallback with ``continue``.

Then the AstDB helper channel (a Local channel into ``[clinic-router-astdb]``), error
replies (404, 400, 409, 500) and ``ApplicationReplaced``. The output names the Asterisk
version it came from; ids, numbers and names are kept as Asterisk wrote them (the fake
replaces them with its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call

APP = "clinic-router"
DID = "74952232222"
CALLER = "79990001122"
FALLBACK_CALLER = "79990001133"
DEFAULT_OUT = Path("tests/data/ari")
WAIT_S = 20.0

Json = dict[str, Any]
Match = Callable[[Json], bool]


class Tape:
    """What was recorded: REST exchanges by name, events by name, every event type seen."""

    def __init__(self) -> None:
        self.rest: dict[str, Json] = {}
        self.events: dict[str, Json] = {}
        self.sequence: list[str] = []  # event types in arrival order (the call's story)

    def keep_event(self, name: str, event: Json) -> None:
        self.events.setdefault(name, event)

    def dump(self, out: Path, version: str) -> None:
        out.mkdir(parents=True, exist_ok=True)
        header = {"asterisk": version, "recorded_by": "sip_test_harness/ari_recorder.py"}
        for name, data in (
            ("rest.json", {**header, "replies": self.rest}),
            ("events.json", {**header, "events": self.events, "sequence": self.sequence}),
        ):
            text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
            (out / name).write_text(text + "\n", encoding="utf-8")


class Recorder:
    """One ARI WebSocket plus REST calls, everything written to a `Tape`."""

    def __init__(self, session: aiohttp.ClientSession, access: AriAccess, tape: Tape) -> None:
        self.session = session
        self.base = access.url
        self.headers = {"Authorization": access.authorization()}
        self.tape = tape
        self.seen: list[Json] = []
        self._changed = asyncio.Condition()

    async def rest(
        self,
        name: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Json | None = None,
    ) -> Any:
        async with self.session.request(
            method, f"{self.base}/{path}", params=params, json=body, headers=self.headers
        ) as resp:
            raw = await resp.text()
            status = resp.status
        data = json.loads(raw) if raw.strip() else None
        self.tape.rest.setdefault(
            name,
            {"method": method, "path": path, "params": params, "status": status, "body": data},
        )
        return data

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            self.tape.sequence.append(str(event.get("type")))
            self.tape.keep_event(str(event.get("type")), event)
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def wait(self, name: str, match: Match, after: int = 0) -> Json:
        """The first event since index `after` that matches; kept on the tape as `name`."""
        async with asyncio.timeout(WAIT_S), self._changed:
            while True:
                found = next((e for e in self.seen[after:] if match(e)), None)
                if found is not None:
                    self.tape.keep_event(name, found)
                    return found
                await self._changed.wait()

    async def maybe(self, name: str, match: Match, after: int = 0, within: float = 2.0) -> None:
        """Like `wait`, for an event Asterisk may not send to this app at all."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self.wait(name, match, after)

    def mark(self) -> int:
        return len(self.seen)


def of(kind: str, channel_id: str | None = None, **fields: Any) -> Match:
    def match(event: Json) -> bool:
        if event.get("type") != kind:
            return False
        if channel_id is not None:
            ids = {(event.get(key) or {}).get("id") for key in ("channel", "peer", "playback")} | {
                (event.get("playback") or {}).get("target_uri", "").partition(":")[2]
            }
            if channel_id not in ids:
                return False
        return all(event.get(k) == v for k, v in fields.items())

    return match


async def record(access: AriAccess, out: Path) -> None:
    tape = Tape()
    url = f"ws://{access.host}:{access.port}/ari/events?app={APP}&subscribeAll=false"
    async with aiohttp.ClientSession() as session:
        rec = Recorder(session, access, tape)
        ws = await session.ws_connect(url, headers=rec.headers, protocols=("ari",))
        reader = asyncio.create_task(rec.read(ws), name="recorder events")
        version = "unknown"
        try:
            info = await rec.rest("asterisk_info", "GET", "asterisk/info")
            version = str(info["system"]["version"])
            await asterisk_objects(rec)
            phones = {
                "op1001": Behaviour("answer", hold=30),
                "op1002": Behaviour("busy"),
                "op1003": Behaviour("never"),
            }
            async with Phones(phones):
                await answered_call(rec)
                await fallback_call(rec)
            await astdb_and_errors(rec)
            await application_replaced(rec, session, url)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()
            tape.dump(out, version)  # also a partial tape: it shows how far it got


async def asterisk_objects(rec: Recorder) -> None:
    await rec.rest("asterisk_ping", "GET", "asterisk/ping")
    await rec.rest(
        "application_filter", "PUT", f"applications/{APP}/eventFilter", body={"allowed": []}
    )
    await rec.rest("channels_none", "GET", "channels")
    await rec.rest("bridges_none", "GET", "bridges")
    await rec.rest("endpoint_online", "GET", "endpoints/PJSIP/op1001")
    await rec.rest("endpoint_missing", "GET", "endpoints/PJSIP/nosuch")


async def answered_call(rec: Recorder) -> None:
    start = rec.mark()
    call = asyncio.create_task(
        place_call(CALLER, DID, dtmf="1", dtmf_delay=1.5, hangup_after=8, timeout=40)
    )
    try:
        offer = await rec.wait("CallBroadcast", of("CallBroadcast"), start)
        cid = offer["channel"]["id"]
        await rec.rest(
            "claim", "POST", "events/claim", params={"channelId": cid, "application": APP}
        )
        await rec.rest(
            "claim_again", "POST", "events/claim", params={"channelId": cid, "application": APP}
        )
        await rec.wait("StasisStart:caller", of("StasisStart", cid), start)
        await rec.rest("answer", "POST", f"channels/{cid}/answer")
        await rec.rest("channel", "GET", f"channels/{cid}")
        await rec.rest("variable", "GET", f"channels/{cid}/variable", params={"variable": "DID"})
        await rec.rest(
            "variable_unset", "GET", f"channels/{cid}/variable", params={"variable": "NOPE"}
        )
        playback = await rec.rest(
            "play",
            "POST",
            f"channels/{cid}/play",
            body={"media": ["sound:hello-world", "sound:hello-world"], "lang": "ru"},
        )
        await rec.wait("PlaybackStarted", of("PlaybackStarted", cid), start)
        await rec.wait("ChannelDtmfReceived", of("ChannelDtmfReceived", cid), start)
        await rec.rest("playback_stop", "DELETE", f"playbacks/{playback['id']}")
        await rec.wait("PlaybackFinished", of("PlaybackFinished", cid), start)
        bridge = f"cr-{cid}"
        await rec.rest(
            "bridge_create",
            "POST",
            "bridges",
            params={"type": "mixing", "bridgeId": bridge, "name": bridge},
        )
        await rec.rest(
            "bridge_create_again",
            "POST",
            "bridges",
            params={"type": "mixing", "bridgeId": bridge, "name": bridge},
        )
        await rec.rest(
            "bridge_add", "POST", f"bridges/{bridge}/addChannel", params={"channel": cid}
        )
        await rec.wait("ChannelEnteredBridge:caller", of("ChannelEnteredBridge", cid), start)
        await rec.rest(
            "bridge_moh", "POST", f"bridges/{bridge}/moh", params={"mohClass": "default"}
        )
        await rec.rest("bridge", "GET", f"bridges/{bridge}")
        await ring(rec, cid, "op1002", 1, "busy")
        await ring(rec, cid, "op1003", 2, "noanswer")
        leg = await ring(rec, cid, "op1001", 3, "answered")
        await rec.rest("bridge_moh_stop", "DELETE", f"bridges/{bridge}/moh")
        await rec.rest(
            "bridge_add_leg", "POST", f"bridges/{bridge}/addChannel", params={"channel": leg}
        )
        await rec.wait("ChannelEnteredBridge:operator", of("ChannelEnteredBridge", leg), start)
        await rec.rest("channels", "GET", "channels")
        await rec.rest("bridges", "GET", "bridges")
        await rec.rest("application", "GET", f"applications/{APP}")
        await rec.rest("endpoint_in_call", "GET", "endpoints/PJSIP/op1001")
        # The caller's SIPp hangs up 6 s after its key.
        await rec.wait("ChannelHangupRequest:caller", of("ChannelHangupRequest", cid), start)
        await rec.wait("StasisEnd:caller", of("StasisEnd", cid), start)
        # After StasisEnd the channel is no longer the app's: its end may not be sent.
        await rec.maybe("ChannelLeftBridge:caller", of("ChannelLeftBridge", cid), start)
        await rec.maybe("ChannelDestroyed:caller", of("ChannelDestroyed", cid), start)
        await rec.rest(
            "bridge_add_gone", "POST", f"bridges/{bridge}/addChannel", params={"channel": cid}
        )
        await rec.rest("answer_gone", "POST", f"channels/{cid}/answer")
        await rec.rest("hangup", "DELETE", f"channels/{leg}", params={"reason": "normal"})
        await rec.wait("ChannelDestroyed:operator", of("ChannelDestroyed", leg), start)
        await rec.rest("bridge_delete", "DELETE", f"bridges/{bridge}")
    finally:
        await call


async def ring(rec: Recorder, cid: str, op: str, n: int, how: str) -> str:
    start = rec.mark()
    leg = f"{cid}-op{n}"
    await rec.rest(
        f"originate_{how}",
        "POST",
        "channels",
        body={
            "endpoint": f"PJSIP/{op}",
            "app": APP,
            "channelId": leg,
            "timeout": 3,
            "appArgs": f"operator,{cid}",
            "callerId": f"+{CALLER}",
        },
    )
    if how == "answered":
        await rec.wait("StasisStart:operator", of("StasisStart", leg), start)
        await rec.wait("Dial:answer", of("Dial", leg, dialstatus="ANSWER"), start)
    else:
        await rec.wait(f"ChannelDestroyed:{how}", of("ChannelDestroyed", leg), start)
    return leg


async def fallback_call(rec: Recorder) -> None:
    start = rec.mark()
    call = asyncio.create_task(place_call(FALLBACK_CALLER, DID, hangup_after=3, timeout=30))
    try:
        offer = await rec.wait("CallBroadcast:fallback", of("CallBroadcast"), start)
        cid = offer["channel"]["id"]
        await rec.rest(
            "claim", "POST", "events/claim", params={"channelId": cid, "application": APP}
        )
        await rec.wait("StasisStart:fallback", of("StasisStart", cid), start)
        await rec.rest("answer", "POST", f"channels/{cid}/answer")
        await rec.rest(
            "continue",
            "POST",
            f"channels/{cid}/continue",
            params={"context": "clinic-router-fallback", "extension": DID, "priority": "1"},
        )
        await rec.wait("StasisEnd:continue", of("StasisEnd", cid), start)
        await rec.rest(
            "continue_gone",
            "POST",
            f"channels/{cid}/continue",
            params={"context": "clinic-router-fallback", "extension": DID, "priority": "1"},
        )
    finally:
        await call


async def astdb_and_errors(rec: Recorder) -> None:
    helper = f"astdb-recorder-{int(time.time())}"
    await rec.rest(
        "originate_dialplan",
        "POST",
        "channels",
        body={
            "endpoint": "Local/s@clinic-router-astdb",
            "context": "clinic-router-astdb",
            "extension": "s",
            "priority": 1,
            "channelId": helper,
            "timeout": 10,
        },
    )
    await rec.rest(
        "variable_db_keys",
        "GET",
        f"channels/{helper}/variable",
        params={"variable": "DB_KEYS(clinic-router-missed)"},
    )
    await rec.rest("hangup_dialplan", "DELETE", f"channels/{helper}")
    await rec.rest(
        "global_variable",
        "POST",
        "asterisk/variable",
        body={"variable": "DB_DELETE(clinic-router-missed/nokey)", "value": ""},
    )
    await rec.rest("channel_missing", "GET", "channels/nosuch")
    await rec.rest("hangup_missing", "DELETE", "channels/nosuch")
    await rec.rest(
        "variable_channel_missing", "GET", "channels/nosuch/variable", params={"variable": "DID"}
    )
    await rec.rest("bridge_missing", "GET", "bridges/nosuch")
    await rec.rest("bridge_delete_missing", "DELETE", "bridges/nosuch")
    await rec.rest("playback_stop_missing", "DELETE", "playbacks/nosuch")
    await rec.rest("play_missing", "POST", "channels/nosuch/play", body={"media": ["sound:beep"]})
    await rec.rest(
        "claim_missing", "POST", "events/claim", params={"channelId": "nosuch", "application": APP}
    )
    await rec.rest(
        "originate_unknown",
        "POST",
        "channels",
        body={"endpoint": "PJSIP/nosuch", "app": APP, "channelId": "nosuch-op1", "timeout": 3},
    )
    await rec.rest("applications", "GET", "applications")


async def application_replaced(rec: Recorder, session: aiohttp.ClientSession, url: str) -> None:
    start = rec.mark()
    second = await session.ws_connect(url, headers=rec.headers, protocols=("ari",))
    try:
        await rec.wait("ApplicationReplaced", of("ApplicationReplaced"), start)
    finally:
        await second.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with sandbox_lock():
        box = Sandbox()
        started_here = box.pid() is None
        box.up()
        try:
            asyncio.run(record(box.ari_access, args.out))
        finally:
            box.cli("database deltree clinic-router-missed")
            if started_here:
                box.down()
    print(f"recorded into {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
