"""The benchmark's floor: the cheapest ARI app that connects a caller to an operator.

Answer, a mixing bridge, originate the operator (round robin over lop001..lopK),
bridge them; when either side leaves, hang up the other and delete the bridge.
Nothing else: no lookup, no journey, no music. Run as its own process so its CPU is
measured apart: ``python -m sip_test_harness.minimal_ari --operators 200``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
from typing import Any

import aiohttp
import uvloop

from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox_config import BENCH_ARI_APP


class MinimalApp:
    """Caller channel -> bridge; operator channel -> the same bridge; teardown."""

    def __init__(self, session: aiohttp.ClientSession, ari: AriAccess, operators: int) -> None:
        self.session = session
        self.ari = ari
        self.operators = itertools.cycle(f"lop{n:03d}" for n in range(1, operators + 1))
        self.peer: dict[str, tuple[str, str | None]] = {}  # channel -> (bridge, other channel)
        self.tasks: set[asyncio.Task[None]] = set()

    async def rest(self, method: str, path: str, **params: str) -> Any:
        async with self.session.request(method, f"{self.ari.url}/{path}", params=params) as resp:
            return await resp.json() if resp.status == 200 else None

    async def on_caller(self, channel: str, number: str) -> None:
        await self.rest("POST", f"channels/{channel}/answer")
        bridge = f"min-{channel}"
        await self.rest("POST", f"bridges/{bridge}", type="mixing")
        await self.rest("POST", f"bridges/{bridge}/addChannel", channel=channel)
        leg = f"{channel}-op"
        self.peer[channel] = (bridge, leg)
        self.peer[leg] = (bridge, channel)
        await self.rest(
            "POST",
            f"channels/{leg}",
            endpoint=f"PJSIP/{next(self.operators)}",
            app=BENCH_ARI_APP,
            appArgs="op",
            timeout="30",
            callerId=number,  # lets the load report time the operator's ringing
        )

    async def on_end(self, channel: str) -> None:
        bridge, other = self.peer.pop(channel, ("", None))
        if other is not None and self.peer.pop(other, None) is not None:
            await self.rest("DELETE", f"channels/{other}")
        if bridge:
            await self.rest("DELETE", f"bridges/{bridge}")

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        channel = event.get("channel", {}).get("id", "")
        if kind == "StasisStart" and event.get("args") == ["op"]:
            bridge, _ = self.peer.get(channel, ("", None))
            coro = self.rest("POST", f"bridges/{bridge}/addChannel", channel=channel)
        elif kind == "StasisStart":
            coro = self.on_caller(channel, event["channel"].get("caller", {}).get("number", ""))
        elif kind in ("StasisEnd", "ChannelDestroyed") and channel in self.peer:
            coro = self.on_end(channel)
        else:
            return
        task = asyncio.create_task(coro)
        self.tasks.add(task)  # owned here; done tasks drop out
        task.add_done_callback(self.tasks.discard)


async def serve(ari: AriAccess, operators: int) -> None:
    """Run until SIGTERM/SIGINT."""
    headers = {"Authorization": ari.authorization()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = f"ws://{ari.host}:{ari.port}/ari/events?app={BENCH_ARI_APP}&subscribeAll=false"
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.ws_connect(url) as ws,
    ):
        app = MinimalApp(session, ari, operators)
        reader = asyncio.create_task(_read(ws, app))
        await stop.wait()
        reader.cancel()
        await asyncio.gather(reader, *app.tasks, return_exceptions=True)


async def _read(ws: aiohttp.ClientWebSocketResponse, app: MinimalApp) -> None:
    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            app.handle(json.loads(message.data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operators", type=int, default=200)
    args = parser.parse_args()
    # uvloop, as the router runs on: the floor is the cheapest app we know how to write
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(AriAccess(), args.operators))


if __name__ == "__main__":
    main()
