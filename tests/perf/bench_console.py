"""Measure (not a test): the wallboard with 200 operators and 500 callers waiting.

    .venv/bin/python tests/perf/bench_console.py [--changes 60] [--consoles 1 10 50]

In one process, without Asterisk: a real operator board and waiting room (500 calls
waiting, 200 operators), the console on a real aiohttp server, N signed-in clients
reading the wallboard's event stream. Each change is an operator's state set on the
board (what an ARI event does); reported: the time from that change to each client
receiving the new board (p50/p99), the snapshot's build and render cost, and the CPU
the process spent per change (server and clients together: an upper bound for the
router's share).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aiohttp_jinja2
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from router.config.console_settings import ConsoleSettings
from router.console.app import PREFIX, build_console, console_deps, live_feed
from router.console.passwords import hash_password
from router.domain.console_access import Role
from router.domain.dispatch import WaitingCall
from router.domain.miss_target import MissTarget
from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.engine.waiting_room import WaitingRoom
from router.storage import Store
from router.storage.migrate import migrate

TOKEN = "bench-token-0123456789"
PASSWORD = "bench-password"


@dataclass
class Caller:
    id: str
    caller_e164: str | None
    menu_path: list[str] = field(default_factory=list)
    operator_id: str | None = None
    tried: list[str] = field(default_factory=list)
    patient_id: str | None = None
    miss_target: MissTarget | None = None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def client(base: str, got: list[float], ready: asyncio.Event) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{base}/console/signin") as form:
            html = await form.text()
        token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"username": "bench", "password": PASSWORD, "csrf_token": token}
        async with session.post(f"{base}/console/signin", data=data) as resp:
            assert resp.status == 200, resp.status
        async with session.get(f"{base}/console/wallboard/events") as stream:
            first = True
            async for raw in stream.content:
                if raw.startswith(b"event: board"):
                    if first:
                        first = False
                        ready.set()
                    else:
                        got.append(time.perf_counter())


async def run(consoles: int, changes: int, gap_s: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
    url = f"sqlite+aiosqlite:///{folder / 'router.db'}"
    await migrate(url)
    store = await Store.open(url)
    await store.users.add("bench", Role.ADMIN, None, hash_password(PASSWORD))
    board = OperatorBoard(time.time)
    ops = [Operator(f"op{n:04d}", f"Operator {n}", f"PJSIP/op{n:04d}") for n in range(200)]
    board.load(OperatorStatus(op, Presence.ON_CALL, None, time.time(), calls_today=3) for op in ops)
    room = WaitingRoom(board, time.monotonic)
    calls: dict[str, Caller] = {}
    for n in range(500):
        target = MissTarget("moscow", f"q{n % 5}")
        call = Caller(f"c-{n}", f"+7916{n:07d}", ["main:1"], miss_target=target)
        calls[call.id] = call
        room.wait(WaitingCall(call.id, 0, time.monotonic() - n, frozenset()), lambda _o: True)
    settings = ConsoleSettings()
    feed = live_feed(settings, board, room, calls.values, store.db)
    app = web.Application()
    console = build_console(console_deps(settings, TOKEN, store, feed))
    app.add_subapp(PREFIX, console)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    received: list[list[float]] = [[] for _ in range(consoles)]
    readies = [asyncio.Event() for _ in range(consoles)]
    tasks = [asyncio.create_task(client(base, received[i], readies[i])) for i in range(consoles)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    build = []
    for _ in range(20):
        t = time.perf_counter()
        feed._build(False)
        build.append(time.perf_counter() - t)
    template = aiohttp_jinja2.get_env(console).get_template("_board.html")
    snapshot = feed._build(False)
    render, size = [], 0
    for _ in range(10):
        t = time.perf_counter()
        size = len(template.render(board=snapshot, now=time.time()))
        render.append(time.perf_counter() - t)
    latencies: list[float] = []
    cpu0 = time.process_time()
    for n in range(changes):
        op = ops[n % len(ops)]
        counts = [len(r) for r in received]
        changed_at = time.perf_counter()
        board.set(op.id, Presence.PAUSED if n % 2 == 0 else Presence.ON_CALL, "bench")
        deadline = changed_at + 5
        pairs = list(zip(received, counts, strict=True))
        while any(len(r) == c for r, c in pairs) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # polls the clients' receipt times at 1 ms
        latencies += [r[c] - changed_at for r, c in pairs if len(r) > c]
        await asyncio.sleep(gap_s)
    cpu = time.process_time() - cpu0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await runner.cleanup()
    await store.close()
    return {
        "consoles": consoles,
        "latency_p50_ms": 1000 * statistics.median(latencies),
        "latency_p99_ms": 1000 * percentile(latencies, 99),
        "build_ms": 1000 * statistics.median(build),
        "render_ms": 1000 * statistics.median(render),
        "kib": size / 1024,
        "cpu_ms_per_change": 1000 * cpu / changes,
        "cpu_share": cpu / (changes * gap_s + sum(latencies) / max(1, consoles)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--gap-s", type=float, default=0.3)
    parser.add_argument("--consoles", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()
    print(
        "consoles  change->page p50   p99    build   render (KiB)  CPU per change  CPU share"
    )
    for n in args.consoles:
        r = asyncio.run(run(n, args.changes, args.gap_s))
        print(
            f"{n:>8}  {r['latency_p50_ms']:>10.1f} ms {r['latency_p99_ms']:>6.1f} ms"
            f"  {r['build_ms']:>4.1f} ms {r['render_ms']:>5.1f} ms ({r['kib']:.0f})"
            f"  {r['cpu_ms_per_change']:>10.1f} ms  {r['cpu_share']:>8.1%}"
        )


if __name__ == "__main__":
    main()
