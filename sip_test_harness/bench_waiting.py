"""Concurrency benchmark: N callers waiting at once, with music on hold and announcements.

    python -m sip_test_harness.bench_waiting --callers 1000 [--rate 50] [--window 30]

Holds the sandbox lock; starts the sandbox and clinic-router on rules where every caller
goes to one queue whose only operator is offline (so nobody is ever offered), with music
on hold and position announcements every ``--announce-every`` seconds, and a max wait of
an hour. One SIPp UAC places N calls from unknown numbers at ``--rate`` calls/s and stays
on the line. Figures: router RSS before the first call and once everyone waits (KB per
waiting caller), the event-loop lag histogram of ``/metrics`` over the window (p99 as a
bucket bound), CPU of Asterisk, the router and SIPp over the window. Then Asterisk hangs
everyone up and the run checks that no channel or bridge is left. Figures, not asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from router.http.metrics import WAITING
from sip_test_harness.bench_waiting_report import WaitingResult, markdown
from sip_test_harness.errors import HarnessError, SandboxError
from sip_test_harness.load import files, observe, procstat, scenarios, stats
from sip_test_harness.load.mix import Mix, OperatorMix, Stream
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_metrics import Scrape, scrape
from sip_test_harness.router_process import TOKEN, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import CALLER_PORTS
from sip_test_harness.sipp_process import SippProcess, SippRun, udp_port_bound

__all__ = ["WaitingOptions", "WaitingResult", "main", "markdown", "run"]

OPERATOR = "lop001"  # the queue's only operator, set offline before the first call
CALLER_PORT = CALLER_PORTS[0]
ANNOUNCEMENT = "queue-your-call-is-important"  # a sandbox demo prompt
STALL_S = 20.0  # no new waiting caller for this long after the last INVITE: stop waiting
Progress = Callable[[str], None]


@dataclass(frozen=True)
class WaitingOptions:
    """What to run."""

    callers: int = 1000
    rate: float = 50.0  # calls per second
    window_s: float = 30.0  # measured while everyone waits
    announce_every_s: int = 30


def rules_yaml(announce_every_s: int) -> str:
    """One line, one route, one queue nobody can answer: everyone waits up to an hour."""
    return f"""format: 1
skills:
  paid: Paid services
operators:
  - {{id: {OPERATOR}, name: Offline operator, endpoint: PJSIP/{OPERATOR}, skills: {{paid: 3}}}}
lines:
  - id: bench
    numbers: ["{files.ROUTER_DID}", "+{files.ROUTER_DID}"]
    routes: main
routes:
  main:
    - name: wait
      then: {{queue: waiting}}
queues:
  waiting:
    max_wait_s: 3600
    announce_every_s: {announce_every_s}
    announcement: {ANNOUNCEMENT}
    steps:
      - {{after_s: 0, skills: [paid]}}
"""


def _caller(workdir: Path, options: WaitingOptions) -> SippProcess:
    """One SIPp UAC placing every call; each stays until Asterisk hangs it up."""
    stream = Stream(name="waiting", share=1, caller="unknown", hangup_after=None)
    mix = Mix((stream,), OperatorMix())
    (injection,) = files.write_streams(
        workdir, mix, {stream.name: options.callers}, "router", [OPERATOR]
    )
    xml = workdir / "waiting.xml"
    xml.write_text(scenarios.caller_xml(stream), encoding="utf-8")
    placing_s = options.callers / options.rate
    extra: tuple[str, ...] = ("-r", str(max(1, round(options.rate * 1000))), "-rp", "1000000")
    extra += ("-l", str(options.callers + 1), "-inf", str(injection.injection))
    extra += ("-trace_logs", "-log_file", str(workdir / "waiting.log.log"))  # call id -> number
    return SippProcess(
        SippRun(
            name="waiting",
            scenario=xml,
            port=CALLER_PORT,
            log_dir=workdir,
            max_calls=options.callers,
            timeout=placing_s + options.window_s + 600,
            remote="127.0.0.1:5060",
            full_trace=False,
            extra=extra,
        )
    )


@dataclass
class _Run:
    options: WaitingOptions
    sandbox: Sandbox
    router: RouterProcess
    session: aiohttp.ClientSession
    progress: Progress
    caller: SippProcess | None = None
    log_offset: int = 0
    result: WaitingResult = field(init=False)

    def __post_init__(self) -> None:
        options = self.options
        self.result = WaitingResult(
            options.callers, options.rate, options.window_s, options.announce_every_s
        )

    async def metrics(self) -> Scrape:
        return await scrape(self.session, f"http://127.0.0.1:{self.router.port}", TOKEN)

    def rss(self) -> float | None:
        return procstat.rss_mb(self.router.pid)


async def _start(run: _Run) -> None:
    try:
        await run.router.start()
    except AssertionError as exc:  # RouterProcess's own "did not get ready" report
        raise HarnessError(f"the router did not connect to ARI: {exc}") from None
    status, body = await run.router.request(
        "PUT", f"/api/operators/{OPERATOR}/state", {"state": "offline"}
    )
    if status != 200:
        raise HarnessError(f"could not set {OPERATOR} offline: {status} {body}")


async def _fill(run: _Run) -> Scrape:
    """Place the calls; return the scrape once all wait (or the count stopped growing)."""
    assert run.caller is not None
    options, result = run.options, run.result
    started = time.monotonic()
    last_invite = started + options.callers / options.rate
    best, best_at = 0, started
    while True:
        await asyncio.sleep(2.0)
        try:
            current = await run.metrics()
        except (aiohttp.ClientError, TimeoutError) as exc:  # a starved router answers late
            run.progress(f"[{time.monotonic() - started:5.1f}s] /metrics: {exc!r}")
            continue
        now = time.monotonic()
        waiting = int(current.value(WAITING))
        if waiting > best:
            best, best_at = waiting, now
        run.progress(
            f"[{now - started:5.1f}s] waiting {waiting}/{options.callers}, "
            f"router RSS {run.rss()} MB"
        )
        done = waiting >= options.callers
        stalled = now > last_invite and now - best_at > STALL_S
        if done or stalled or run.caller.returncode is not None:
            result.waiting = waiting
            result.fill_s = round(now - started, 1)
            return current


async def _window(run: _Run, asterisk_pid: int | None) -> None:
    """Lag, CPU and RSS while everyone waits."""
    assert run.caller is not None
    result = run.result
    pids = (asterisk_pid, run.router.pid, run.caller.pid)
    before = [procstat.cpu_seconds(pid) for pid in pids]
    queued = runqueue_wait_s(run.router.pid)
    first = await run.metrics()
    began = time.monotonic()
    await asyncio.sleep(run.options.window_s)
    last = await run.metrics()
    after = [procstat.cpu_seconds(pid) for pid in pids]
    elapsed = time.monotonic() - began
    queued_after = runqueue_wait_s(run.router.pid)
    if queued is not None and queued_after is not None:
        result.router_runqueue_wait_s = round(queued_after - queued, 2)
    result.asterisk_threads = _threads(asterisk_pid)
    result.asterisk_cpu_pct, result.router_cpu_pct, result.sipp_cpu_pct = (
        round((b.seconds - a.seconds) * 100 / elapsed, 1)
        for a, b in zip(before, after, strict=True)
    )
    result.rss_end_mb = run.rss()
    result.asterisk_rss_mb = procstat.rss_mb(asterisk_pid)
    result.waiting_end = int(last.value(WAITING))
    lag = last.lag.minus(first.lag)
    result.lag_samples = int(lag.count)
    result.lag_p50_ms, result.lag_p99_ms = lag.quantile_ms(0.5), lag.quantile_ms(0.99)
    result.lag_mean_ms = None if lag.mean_ms is None else round(lag.mean_ms, 2)


def runqueue_wait_s(pid: int | None) -> float | None:
    """Seconds the process's main thread (the router's event loop) has spent runnable but
    waiting for a CPU (/proc/PID/schedstat, second field, ns); None when unknown."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _threads(pid: int | None) -> int | None:
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return None


async def _announcements(run: _Run) -> int:
    """Announcements journaled so far across this run's calls (the router's database is
    this run's own)."""
    url = f"http://127.0.0.1:{run.router.port}/api/calls"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    params = {"limit": "500"}
    total = 0
    while True:
        async with run.session.get(url, params=params, headers=headers) as resp:
            if resp.status != 200:
                raise HarnessError(f"GET /api/calls answered {resp.status}")
            body = await resp.json()
        total += sum(1 for c in body["calls"] for e in c["journey"] if e["kind"] == "announcement")
        after = body.get("next")
        if not after:
            return total
        params.update(before=after["before"], before_id=after["before_id"])


def _sip_failures(run: _Run) -> Counter[str]:
    assert run.caller is not None
    messages = stats.read_messages(run.caller.run.log("short"))
    calls = stats.caller_calls("waiting", messages, run.caller.run.log_dir / "waiting.log.log")
    return Counter(str(c.final_status or "no answer") for c in calls if c.answered_at is None)


def asterisk_complaints(log: Path, offset: int) -> list[str]:
    """Distinct warnings/errors Asterisk logged since ``offset``, most frequent first."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    found: Counter[str] = Counter()
    for line in text.splitlines():
        match = re.search(r"\] (WARNING|ERROR)\[[^\]]*\](?:\[[^\]]*\])?:? *(.*)", line)
        if match:
            found[f"{match.group(1)} {re.sub(r'[0-9]+', 'N', match.group(2))[:120]}"] += 1
    return [f"{n}x {text}" for text, n in found.most_common(3)]


async def _measure(run: _Run) -> WaitingResult:
    options, result = run.options, run.result
    await _start(run)
    result.rss_before_mb = run.rss()
    start = await run.metrics()
    run.caller = _caller(run.router.workdir, options)
    await run.caller.start()
    run.progress(f"placing {options.callers} calls at {options.rate:g}/s")
    full = await _fill(run)
    result.rss_full_mb = run.rss()
    result.ramp_lag_p99_ms = full.lag.minus(start.lag).quantile_ms(0.99)
    if result.waiting < options.callers:
        result.sip_failures = dict(_sip_failures(run))
        run.progress(f"only {result.waiting} waiting; SIP failures {result.sip_failures}")
    if result.waiting > 0 and result.rss_before_mb is not None and result.rss_full_mb:
        per_caller = (result.rss_full_mb - result.rss_before_mb) * 1024 / result.waiting
        result.rss_per_caller_kb = round(per_caller, 1)
    run.progress(f"{result.waiting} waiting; measuring for {options.window_s:g} s")
    await _window(run, run.sandbox.pid())
    result.announcements = await _announcements(run)
    try:  # Asterisk's own count: the callers, each bridge's MOH announcer channel, bridges
        result.ari_channels, result.ari_bridges = await observe.ari_counts(AriAccess())
    except (aiohttp.ClientError, TimeoutError) as exc:
        run.progress(f"ARI did not list channels and bridges: {exc!r}")
    run.progress("hanging everyone up")
    try:
        await asyncio.to_thread(run.sandbox.hangup_all)
    except SandboxError as exc:  # the CLI timed out: what is left is counted below
        run.progress(f"hang-up request failed: {exc}")
    await run.caller.wait(60)
    channels, bridges = await observe.wait_drained(AriAccess(), 60)
    result.leftover_channels, result.leftover_bridges = channels, bridges
    result.rss_drained_mb = run.rss()
    result.asterisk_complaints = asterisk_complaints(run.sandbox.log_file, run.log_offset)
    return result


async def measure(options: WaitingOptions, progress: Progress) -> WaitingResult:
    """One run (the caller holds the sandbox lock); SIPp and the router always stopped."""
    if options.callers < 1 or options.rate <= 0 or options.window_s <= 0:
        raise HarnessError("--callers, --rate and --window must be positive")
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    if udp_port_bound(CALLER_PORT):
        raise HarnessError(
            f"port 127.0.0.1:{CALLER_PORT}/udp is taken (a SIPp of another run?); stop it first"
        )
    workdir = Path(tempfile.mkdtemp(prefix="clinic-bench-waiting-"))
    (workdir / "rules.yaml").write_text(rules_yaml(options.announce_every_s), encoding="utf-8")
    router = RouterProcess(workdir, rules=workdir / "rules.yaml", log_level="info")
    ok = False
    async with aiohttp.ClientSession() as session:
        run = _Run(options, sandbox, router, session, progress)
        try:
            run.log_offset = sandbox.log_file.stat().st_size if sandbox.log_file.exists() else 0
            result = await _measure(run)
            ok = result.waiting == result.waiting_end == options.callers and not (
                result.leftover_channels or result.leftover_bridges
            )
            return result
        finally:
            if run.caller is not None:
                await run.caller.stop()
            await router.stop()
            with contextlib.suppress(SandboxError):  # never hide why the run stopped
                await asyncio.to_thread(sandbox.hangup_all)
            if ok:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                progress(f"not every caller waited to the end: logs kept in {workdir}")


def run(options: WaitingOptions, progress: Progress = print) -> WaitingResult:
    """Take the sandbox lock and measure (``bench.py`` calls this)."""
    with sandbox_lock():
        return asyncio.run(measure(options, progress))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sip_test_harness.bench_waiting")
    parser.add_argument("--callers", type=int, default=1000, help="callers waiting at once")
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second placed")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--announce-every", type=int, default=30, help="seconds (queue)")
    args = parser.parse_args(argv)
    options = WaitingOptions(args.callers, args.rate, args.window, args.announce_every)
    try:
        result = run(options)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (aiohttp.ClientError, OSError) as exc:  # the router or ARI did not answer in time
        print(f"error: {exc!r}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
