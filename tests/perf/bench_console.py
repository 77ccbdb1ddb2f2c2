"""Measure (not a test): the wallboard with 200 operators and 500 callers waiting.

    .venv/bin/python tests/perf/bench_console.py [--changes 60] [--consoles 1 10 50]

Without Asterisk: a real operator board and waiting room (500 calls waiting, 200
operators) and the console on a real aiohttp server in this process; N signed-in
clients reading the wallboard's event stream in another process. Each change is an
operator's state set on the board (what an ARI event does). Reported: the time from
that change to each client receiving the new board (p50/p99), the snapshot's build and
render cost, and this process's CPU per change and as a share of the run (the router's
extra CPU for the wallboard; an idle router process uses about none).
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
    operator_channel: str | None = None  # the console's LiveCall has it


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def sign_in(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/console/signin") as form:
        html = await form.text()
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"username": "bench", "password": PASSWORD, "csrf_token": token}
    async with session.post(f"{base}/console/signin", data=data) as resp:
        assert resp.status == 200, resp.status


async def client(
    session: aiohttp.ClientSession, base: str, index: int, out: asyncio.Queue[str]
) -> None:
    async with session.get(f"{base}/console/wallboard/events") as stream:
        while True:
            chunk = await stream.content.readany()
            if not chunk:
                return
            for _ in range(chunk.count(b"event: board")):
                out.put_nowait(f"{index} {time.time():.6f}")


async def clients_main(base: str, count: int) -> None:
    """The clients, in a process of their own: their parsing is not the router's CPU.
    One sign-in shared by every stream (a supervisor's tabs): sign-ins all at once would
    meet the console's bounded password-checking pool, not the wallboard."""
    out: asyncio.Queue[str] = asyncio.Queue()
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as session:
        await sign_in(session, base)
        tasks = [asyncio.create_task(client(session, base, i, out)) for i in range(count)]
        try:
            while True:
                print(await out.get(), flush=True)
        finally:
            for task in tasks:
                task.cancel()


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
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--clients-of",
        base,
        "--consoles",
        str(consoles),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    stdout = proc.stdout

    async def read() -> None:
        while line := await stdout.readline():
            index, at = line.split()
            received[int(index)].append(float(at))

    reader = asyncio.create_task(read())
    async with asyncio.timeout(120):
        while any(not r for r in received):  # noqa: ASYNC110 - each client's first board
            await asyncio.sleep(0.05)
    build = []
    for _ in range(20):
        t = time.perf_counter()
        feed._build(False, feed.source.calls_by_operator())
        build.append(time.perf_counter() - t)
    template = aiohttp_jinja2.get_env(console).get_template("_board.html")
    snapshot = feed._build(False, feed.source.calls_by_operator())
    render, size = [], 0
    for _ in range(10):
        t = time.perf_counter()
        size = len(template.render(board=snapshot, now=time.time()))
        render.append(time.perf_counter() - t)
    latencies: list[float] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    for n in range(changes):
        op = ops[n % len(ops)]
        counts = [len(r) for r in received]
        changed_at = time.time()
        board.set(op.id, Presence.PAUSED if n % 2 == 0 else Presence.ON_CALL, "bench")
        deadline = changed_at + 5
        pairs = list(zip(received, counts, strict=True))
        while any(len(r) == c for r, c in pairs) and time.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # polls the clients' receipt times at 1 ms
        latencies += [r[c] - changed_at for r, c in pairs if len(r) > c]
        await asyncio.sleep(gap_s)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    proc.terminate()
    await proc.wait()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
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
        "cpu_share": cpu / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--gap-s", type=float, default=0.3)
    parser.add_argument("--consoles", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--clients-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients_of:
        asyncio.run(clients_main(args.clients_of, args.consoles[0]))
        return
    print("consoles  change->page p50   p99    build   render (KiB)  CPU per change  CPU share")
    for n in args.consoles:
        r = asyncio.run(run(n, args.changes, args.gap_s))
        print(
            f"{n:>8}  {r['latency_p50_ms']:>10.1f} ms {r['latency_p99_ms']:>6.1f} ms"
            f"  {r['build_ms']:>4.1f} ms {r['render_ms']:>5.1f} ms ({r['kib']:.0f})"
            f"  {r['cpu_ms_per_change']:>10.1f} ms  {r['cpu_share']:>8.1%}"
        )


if __name__ == "__main__":
    main()
