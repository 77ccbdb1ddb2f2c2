"""AGI mode's decision cost, in process: FastAGI sessions over loopback TCP into the real
server, call handler, SQLite patient store and journal (Asterisk's side is the wire fake
of sip_test_harness/agi_wire.py, in the same process: the CPU figure is an upper bound
for the router's share).

    python -m sip_test_harness.bench_agi [--calls 2000] [--concurrency 50]

Prints, for a known caller with a manager (no menu: the decision comes back at once) and
an unknown caller who presses a key in the menu: the median and p99 time from connect to
the last variable set (the setup time AGI mode adds before Dial/Queue), decisions per
second with `concurrency` sessions at once, and CPU ms per decision.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from router.agi.call import agi_routes
from router.agi.server import FastAgiServer
from router.ari import AriClient
from router.config.rules import load_rules
from router.engine.board import OperatorBoard
from router.engine.context import CallContext, EngineSettings
from router.engine.recorder import Recorder
from router.engine.waiting_room import WaitingRoom
from router.storage import Store
from router.storage.journal import Journal
from router.storage.models import PatientRecord
from router.storage.store import is_transient_error
from sip_test_harness.agi_wire import agi_call
from sip_test_harness.router_process import REPO

RULES = REPO / "tests" / "data" / "agi" / "rules.yaml"
DID = "74957770000"


@asynccontextmanager
async def _context(folder: Path) -> AsyncIterator[CallContext]:
    """The router's call context on a fresh SQLite store (ARI is never used by AGI mode:
    its client points nowhere)."""
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'router.db'}", migrate=True)
    recorder = Recorder(Journal(store.db).apply, is_transient=is_transient_error)
    writer = asyncio.create_task(recorder.run())
    board = OperatorBoard(clock=time.time)
    rules = load_rules(RULES)
    try:
        async with aiohttp.ClientSession() as session:
            yield CallContext(
                ari=AriClient(session, "http://127.0.0.1:9/ari", "-", "-", "-"),
                store=store,
                board=board,
                recorder=recorder,
                settings=EngineSettings(app="clinic-router"),
                clock=time.monotonic,
                rules_version=lambda: rules.version,
                rules=lambda: rules,
                room=WaitingRoom(board, time.monotonic),
            )
    finally:
        await recorder.flush(10.0)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()


async def _one(port: int, caller: str, keys: list[str | None], uid: str) -> float:
    started = time.perf_counter()
    session = await agi_call(port, caller, DID, keys=keys, uniqueid=uid)
    assert "CR_TARGET" in session.variables
    return time.perf_counter() - started


async def _kind(port: int, caller: str, keys: list[str | None], calls: int, at_once: int) -> str:
    singles = [await _one(port, caller, keys, f"{caller}.{n}") for n in range(min(calls, 300))]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pending = iter(range(calls))

    async def worker() -> None:
        for n in pending:
            await _one(port, caller, keys, f"{caller}.c{n}")

    await asyncio.gather(*(worker() for _ in range(at_once)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    singles.sort()
    p99 = singles[min(len(singles) - 1, int(len(singles) * 0.99))]
    return (
        f"median {statistics.median(singles) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms alone;"
        f" {calls / wall:.0f} decisions/s with {at_once} at once;"
        f" {cpu / calls * 1000:.2f} ms CPU per decision (router + fake Asterisk)"
    )


async def bench(calls: int, at_once: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="clinic-bench-agi-") as tmp:
        async with _context(Path(tmp)) as ctx:
            await ctx.store.patients.upsert(
                [PatientRecord("p-1", "Anna", ("+79161234567",), assigned_operator_id="op1004")]
            )
            server = FastAgiServer(agi_routes(ctx), "127.0.0.1", 0)
            await server.start()
            try:
                known = await _kind(server.port, "+79161234567", [], calls, at_once)
                menu = await _kind(server.port, "+79990001122", ["3"], calls, at_once)
            finally:
                await server.close()
    return [f"known caller, manager: {known}", f"unknown caller, menu key 3: {menu}"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sip_test_harness.bench_agi")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    for line in asyncio.run(bench(args.calls, args.concurrency)):
        print(line)


if __name__ == "__main__":
    main()
