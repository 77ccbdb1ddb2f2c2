"""The console's benchmark on the sandbox: open wallboards while real callers wait.

    python -m sip_test_harness.bench_console [--consoles 0 1 10 50] [--short]

Holds the sandbox lock; starts the sandbox and clinic-router on rules with 200 load
operators (`lop001`..`lop200`, one SIPp UAS answering for all and holding each call for
an hour). Most operators are made busy first (a SIPp UAC's callers talk to them), then
`--waiting` more callers wait in queue `paid`; `--reserved` operators are kept paused for
the answer probes, and `lop200` alone serves queue `probe` and is offline.

Then, per measuring window (the same probes each time, with 0, 1, 10, 50 wallboards
open, the clients in a process of their own): a probe SIPp places calls into queue
`probe`, each hanging up after a moment (join, hang-up), and reserved operators are set
available one by one (the router rings them, their phone answers: answer). Each event is
timed by Asterisk (the `timestamp` of the ARI event an observer app subscribed to
everything receives: ChannelEnteredBridge of the probe caller, its ChannelHangupRequest,
the operator channel's ChannelStateChange to Up); each console times the first board
showing the change. Figures: event-to-page p50/p99, the router's CPU over the window
from /proc, and its extra CPU against the 0-console window of the same run.
Figures, not asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from router.http.metrics import WAITING
from sip_test_harness.bench_console_frames import (
    PROBE_QUEUE,
    Event,
    Frame,
    WindowResult,
    ari_time,
    latencies,
    table,
)
from sip_test_harness.errors import HarnessError, SandboxError
from sip_test_harness.instance import current
from sip_test_harness.load import files, observe, procstat, scenarios
from sip_test_harness.load.mix import OperatorMix, Stream
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_metrics import scrape
from sip_test_harness.router_process import TOKEN, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import (
    CALLER_PORTS,
    LOAD_OPERATOR_PORT,
    LOAD_OPERATORS,
    SIP_PORT,
)
from sip_test_harness.sipp_process import SippProcess, SippRun, udp_port_bound

PROBE_DID = "74952230001"
PROBE_OPERATOR = LOAD_OPERATORS[-1]  # lop200: the probe queue's only operator, offline
OBSERVER_APP = "bench-console-observer"
PROBE_PREFIX = "7998"  # probe callers' numbers; fillers' start 7999
USER, PASSWORD = "bench", "bench-console-password"
HOLD_S = 3600.0  # operators talk for the whole run
STALL_S = 15.0  # no new waiting caller for this long after the last INVITE: go on
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConsoleOptions:
    busy: int = 179  # operators talking before the windows
    waiting: int = 500  # callers waiting in queue paid
    reserved: int = 20  # paused operators, set available by the answer probes
    consoles: tuple[int, ...] = (0, 1, 10, 50)
    probes: int = 8  # probe callers per window (a join and a hang-up each)
    answers: int = 5  # operators answering per window
    gap_s: float = 3.0  # between probe callers
    probe_hold_s: float = 1.5  # a probe caller hangs up this long after the answer
    rate: float = 10.0  # filler calls per second (the router must claim each in time)

    @classmethod
    def short(cls) -> ConsoleOptions:
        """A few seconds per window: the smoke test's size."""
        return cls(
            busy=4, waiting=8, reserved=3, consoles=(0, 1, 3), probes=2, answers=1, gap_s=2.0
        )


@dataclass
class ConsoleResult:
    options: ConsoleOptions
    windows: list[WindowResult] = field(default_factory=list)
    waiting: int = 0
    busy: int = 0
    notes: list[str] = field(default_factory=list)


def rules_yaml(operators: list[str]) -> str:
    """Queue `paid` for every operator but `PROBE_OPERATOR`; `probe` for it alone."""
    lines = ["format: 1", "skills:", "  paid: Paid services", "  probe: Probe", "operators:"]
    for op in operators:
        skill = "probe" if op == PROBE_OPERATOR else "paid"
        lines.append(
            f"  - {{id: {op}, name: Operator {op}, endpoint: PJSIP/{op}, skills: {{{skill}: 3}}}}"
        )
    did = files.ROUTER_DID
    lines += [
        "lines:",
        f'  - {{id: bench, numbers: ["{did}", "+{did}"], routes: main}}',
        f'  - {{id: probe, numbers: ["{PROBE_DID}", "+{PROBE_DID}"], routes: probe}}',
        "routes:",
        "  main:",
        "    - {name: wait, then: {queue: paid}}",
        "  probe:",
        f"    - {{name: probe, then: {{queue: {PROBE_QUEUE}}}}}",
        "queues:",
        "  paid: {max_wait_s: 3600, steps: [{after_s: 0, skills: [paid]}]}",
        f"  {PROBE_QUEUE}: {{max_wait_s: 3600, steps: [{{after_s: 0, skills: [probe]}}]}}",
    ]
    return "\n".join(lines) + "\n"


class Observer:
    """An ARI app subscribed to everything: the probes' events with Asterisk's time."""

    def __init__(self, ari: AriAccess, reserved: frozenset[str]) -> None:
        self._ari = ari
        self._reserved = reserved
        self.events: list[Event] = []
        self._probes: set[str] = set()  # probe callers' channel ids
        self._hung_up: set[str] = set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        url = f"ws://{self._ari.host}:{self._ari.port}/ari/events"
        params = {"app": OBSERVER_APP, "subscribeAll": "true"}
        headers = {"Authorization": self._ari.authorization()}
        async with session.ws_connect(url, params=params, headers=headers) as ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._take(json.loads(message.data))

    def _take(self, event: dict[str, Any]) -> None:
        kind, channel = event.get("type"), event.get("channel") or {}
        cid = channel.get("id", "")
        if kind == "ChannelEnteredBridge":
            number = (channel.get("caller") or {}).get("number", "")
            if number.startswith(PROBE_PREFIX) and cid not in self._probes:
                self._probes.add(cid)
                self.events.append(Event("join", ari_time(event["timestamp"]), cid))
        elif kind == "ChannelHangupRequest" and cid in self._probes - self._hung_up:
            self._hung_up.add(cid)
            self.events.append(Event("hangup", ari_time(event["timestamp"]), cid))
        elif kind == "ChannelStateChange" and channel.get("state") == "Up":
            op = channel.get("name", "").removeprefix("PJSIP/").split("-", 1)[0]
            if op in self._reserved:
                self.events.append(Event("answer", ari_time(event["timestamp"]), op))


def _uac(
    workdir: Path, name: str, port: int, numbers: list[str], did: str, stream: Stream, rate: float
) -> SippProcess:
    """A SIPp UAC placing one call per number to `did` at `rate` calls/s."""
    injection = workdir / f"{name}.csv"
    lines = ["SEQUENTIAL", *(f"{n};{did};" for n in numbers)]
    injection.write_text("\n".join(lines) + "\n", encoding="ascii")
    xml = workdir / f"{name}.xml"
    xml.write_text(scenarios.caller_xml(stream), encoding="utf-8")
    extra: tuple[str, ...] = ("-r", str(max(1, round(rate * 1000))), "-rp", "1000000")
    extra += ("-l", str(len(numbers) + 1), "-inf", str(injection))
    return SippProcess(
        SippRun(
            name=name,
            scenario=xml,
            port=port,
            log_dir=workdir,
            max_calls=len(numbers),
            timeout=len(numbers) / rate + HOLD_S,
            remote=f"{current().host}:{SIP_PORT}",  # the sandbox instance's
            full_trace=False,
            extra=extra,
        )
    )


def _phones(workdir: Path) -> SippProcess:
    """One SIPp UAS answering at once for every load operator, holding each call."""
    xml = workdir / "operators.xml"
    xml.write_text(scenarios.operators_xml(OperatorMix(hold_s={HOLD_S: 1.0}), []))
    return SippProcess(
        SippRun(
            name="lop",
            scenario=xml,
            port=LOAD_OPERATOR_PORT,
            log_dir=workdir,
            max_calls=100_000,
            timeout=86_400,
            full_trace=False,
        )
    )


@dataclass
class _Run:
    options: ConsoleOptions
    router: RouterProcess
    session: aiohttp.ClientSession
    observer: Observer
    progress: Progress
    reserved: list[str]
    processes: list[SippProcess] = field(default_factory=list)
    probe_round: int = 0
    counts: tuple[int, int] = (0, 0)  # operators talking, callers waiting

    async def state(self, op: str, state: str) -> None:
        body = {"state": state, "reason": "bench"} if state == "paused" else {"state": state}
        status, answer = await self.router.request("PUT", f"/api/operators/{op}/state", body)
        if status != 200:
            raise HarnessError(f"could not set {op} {state}: {status} {answer}")

    async def start(self, process: SippProcess) -> SippProcess:
        self.processes.append(process)
        await process.start()
        return process


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise HarnessError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.5)


async def _fill(run: _Run) -> None:
    """Busy operators talking, then the waiting callers waiting."""
    options = run.options
    workdir = run.router.workdir
    stream = Stream(name="filler", share=1, caller="unknown", hangup_after=None)
    count = options.busy + options.waiting
    numbers = [f"7999{n:07d}" for n in range(count)]
    base = f"http://127.0.0.1:{run.router.port}"

    async def waiting() -> int:
        return int((await scrape(run.session, base, TOKEN)).value(WAITING))

    async def talking() -> int:
        _, body = await run.router.request("GET", "/api/operators")
        return sum(1 for op in body["operators"] if op["state"] == "on_call")

    await run.start(
        _uac(workdir, "filler", CALLER_PORTS[0], numbers, files.ROUTER_DID, stream, options.rate)
    )
    run.progress(f"placing {count} callers at {options.rate:g}/s")

    best, best_at = 0, time.monotonic()
    last_invite = best_at + count / options.rate

    async def full() -> bool:
        try:
            w, t = await waiting(), await talking()
        except (aiohttp.ClientError, TimeoutError) as exc:  # a router busy placing calls
            run.progress(f"  the router did not answer in time: {exc!r}")
            return False
        run.progress(f"  {t} talking, {w} waiting")
        nonlocal best, best_at
        if w > best:
            best, best_at = w, time.monotonic()
        run.counts = (t, w)
        # On a loaded machine some calls are not claimed in time and go to the dialplan's
        # fallback: the run goes on with the callers the router has, and says how many.
        stalled = time.monotonic() > last_invite and time.monotonic() - best_at > STALL_S
        return (w >= options.waiting and t >= options.busy) or (stalled and t >= options.busy)

    await _until("callers in place", full, count / options.rate + 120)


@dataclass
class _Clients:
    """The clients' process and the frames each console received, in order."""

    proc: asyncio.subprocess.Process
    frames: list[list[Frame]]
    reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.proc.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


async def _clients(run: _Run, count: int) -> _Clients:
    """`count` wallboards open (each has its first board), and the frames they get."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sip_test_harness.bench_console_clients",
        f"http://127.0.0.1:{run.router.port}",
        str(count),
        USER,
        ",".join(run.reserved),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    clients = _Clients(proc, [[] for _ in range(count)])
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(PASSWORD.encode() + b"\n")
    await proc.stdin.drain()
    ready: set[int] = set()
    stdout = proc.stdout

    async def read() -> None:
        while line := await stdout.readline():
            parts = line.decode().split()
            if parts[0] == "ready":
                ready.add(int(parts[1]))
            elif parts[0] == "frame":
                ops = frozenset() if parts[4] == "-" else frozenset(parts[4].split(","))
                clients.frames[int(parts[1])].append(Frame(float(parts[2]), int(parts[3]), ops))

    clients.reader = asyncio.create_task(read())

    async def all_ready() -> bool:
        if proc.returncode is not None:
            raise HarnessError(f"the console clients exited with {proc.returncode}")
        return len(ready) == count

    try:
        await _until(f"{count} wallboards open", all_ready, 60 + 3 * count)  # argon2 sign-ins
    except (Exception, asyncio.CancelledError):
        await clients.close()
        raise
    return clients


async def _probes(run: _Run) -> int:
    """One window's events: probe callers, and operators released between them."""
    options = run.options
    run.probe_round += 1
    numbers = [f"{PROBE_PREFIX}{run.probe_round:03d}{n:04d}" for n in range(options.probes)]
    stream = Stream(name="probe", share=1, caller="unknown", hangup_after=options.probe_hold_s)
    name = f"probe{run.probe_round}"
    probe = None
    if numbers:
        probe = await run.start(
            _uac(
                run.router.workdir,
                name,
                CALLER_PORTS[1],
                numbers,
                PROBE_DID,
                stream,
                1 / options.gap_s,
            )
        )
    released = 0
    for _ in range(options.answers):
        await asyncio.sleep(options.gap_s)  # paced like the probe calls, between them
        if not run.reserved:
            break
        await run.state(run.reserved.pop(0), "available")
        released += 1
    if probe is not None:
        await probe.wait(options.probes * options.gap_s + 30)
    return 2 * len(numbers) + released


async def _window(run: _Run, consoles: int, pid: int) -> WindowResult:
    result = WindowResult(consoles)
    clients = await _clients(run, consoles) if consoles else None
    frames = clients.frames if clients else []
    try:
        seen = len(run.observer.events)
        began, cpu0 = time.monotonic(), procstat.cpu_seconds(pid)
        planned = await _probes(run)

        async def observed() -> bool:
            return len(run.observer.events) - seen >= planned

        with contextlib.suppress(HarnessError):  # a missing event is told in the figures
            await _until("every probe event", observed, 10)
        await asyncio.sleep(1.0)  # the last frames reach the consoles
        cpu1 = procstat.cpu_seconds(pid)
        result.wall_s, result.cpu_s = time.monotonic() - began, cpu1.seconds - cpu0.seconds
        events = run.observer.events[seen:]
        result.events = len(events)
        result.expected = len(events) * consoles
        merged: dict[str, list[float]] = {}
        for console in frames:
            for kind, values in latencies(events, console).items():
                merged.setdefault(kind, []).extend(1000 * v for v in values)
        result.latency_ms = merged
        result.shown = len(result.all_ms())
        result.frames = len(frames[0]) if frames else 0
    finally:
        if clients is not None:
            await clients.close()
    return result


async def _measure(run: _Run, sandbox: Sandbox, result: ConsoleResult) -> None:
    options = run.options
    await run.router.start()
    for op in run.reserved:
        await run.state(op, "paused")
    await run.state(PROBE_OPERATOR, "offline")
    phones = await run.start(_phones(run.router.workdir))
    await _until("operators' SIPp", lambda: _bound(phones), 15)
    await observe.wait_online(AriAccess(), LOAD_OPERATORS[: options.busy + options.reserved], 30)
    await _fill(run)
    result.busy, result.waiting = run.counts
    pid = run.router.pid
    assert pid is not None
    for consoles in options.consoles:
        run.progress(f"window: {consoles} consoles")
        window = await _window(run, consoles, pid)
        result.windows.append(window)
        run.progress("  " + table([window])[-1])


async def _bound(process: SippProcess) -> bool:
    if process.returncode is not None:
        raise HarnessError(f"SIPp exited: {process.errors()}")
    return udp_port_bound(LOAD_OPERATOR_PORT, current().host)


async def measure(options: ConsoleOptions, progress: Progress = print) -> ConsoleResult:
    """One run (the caller holds the sandbox lock); SIPp, clients and router stopped."""
    if options.busy + options.reserved >= len(LOAD_OPERATORS):
        raise HarnessError(f"--busy + --reserved must leave {PROBE_OPERATOR} for the probes")
    if options.answers * sum(1 for c in options.consoles) > options.reserved:
        raise HarnessError("--reserved must cover --answers in every window")
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    for port in (LOAD_OPERATOR_PORT, CALLER_PORTS[0], CALLER_PORTS[1]):
        if udp_port_bound(port, current().host):
            raise HarnessError(f"port {current().host}:{port}/udp is taken (another SIPp?)")
    workdir = Path(tempfile.mkdtemp(prefix="clinic-bench-console-"))
    operators = [*LOAD_OPERATORS[: options.busy + options.reserved], PROBE_OPERATOR]
    (workdir / "rules.yaml").write_text(rules_yaml(operators), encoding="utf-8")
    router = RouterProcess(workdir, rules=workdir / "rules.yaml", log_level="info")
    done = router.cli(
        "users",
        "add",
        USER,
        "--role",
        "supervisor",
        "--password-stdin",
        "--config",
        str(router.config),
        stdin=PASSWORD + "\n",
    )
    if done.returncode != 0:
        raise HarnessError(f"users add: {done.stderr}")
    reserved = operators[options.busy : options.busy + options.reserved]
    result = ConsoleResult(options)
    ok = False
    async with aiohttp.ClientSession() as session:
        observer = Observer(AriAccess(), frozenset(reserved))
        watcher = asyncio.create_task(observer.run(session))
        run = _Run(options, router, session, observer, progress, reserved)
        try:
            await _measure(run, sandbox, result)
            ok = True
            return result
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            for process in run.processes:
                process.terminate()
            await asyncio.gather(*(p.stop() for p in run.processes))
            await router.stop()
            with contextlib.suppress(SandboxError):
                await asyncio.to_thread(sandbox.hangup_all)
            if ok:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                progress(f"logs kept in {workdir}")


def report(result: ConsoleResult) -> list[str]:
    o = result.options
    return [
        f"{o.busy + o.reserved + 1} operators ({result.busy} talking, {o.reserved} paused "
        f"for the answer probes), {result.waiting} callers waiting; per window "
        f"{o.probes} probe callers (join + hang-up) and {o.answers} operators answering",
        "",
        *table(result.windows),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sip_test_harness.bench_console")
    parser.add_argument("--consoles", type=int, nargs="+", default=[0, 1, 10, 50])
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--busy", type=int, default=179)
    parser.add_argument("--short", action="store_true", help="a smoke-sized run")
    args = parser.parse_args(argv)
    options = (
        ConsoleOptions.short()
        if args.short
        else ConsoleOptions(busy=args.busy, waiting=args.waiting, consoles=tuple(args.consoles))
    )
    try:
        with sandbox_lock():
            result = asyncio.run(measure(options))
    except (HarnessError, aiohttp.ClientError, OSError) as exc:
        print(f"error: {exc!r}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print("\n".join(report(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
