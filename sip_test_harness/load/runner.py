"""One load run: operator phones, one SIPp per caller stream, the report.

    report = await run_load(LoadOptions(rate=2, calls=20), router=router_api)

The caller SIPps place their share of the calls at their share of the rate (``-r``,
``-m``), taking From user and DID from an injection file (``-inf``); one SIPp UAS
answers for all load operators. Every SIPp is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sip_test_harness.errors import HarnessError, SippError
from sip_test_harness.instance import current
from sip_test_harness.load import files, observe, procstat, report, scenarios, stats
from sip_test_harness.load.mix import Mix, load_mix
from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox_config import (
    BENCH_CALLER_PORTS,
    CALLER_PORTS,
    LOAD_OPERATOR_PORT,
    SIP_PORT,
)
from sip_test_harness.sipp_process import SippProcess, SippRun, udp_port_bound

MODES = ("router", "dial", "queue", "minimal")  # what `load --mode` offers
# the router decides: ARI mode, or AGI mode (FastAGI + AMI, the shipped AGI dialplan and
# app_queue: sandbox_agi.py); the harness measures its CPU and RSS and reads its journeys.
# AGI mode needs its queues applied and its router started with AGI settings: only the
# benchmark (bench_e2e.start_agi_router) runs it so far, not `load`.
ROUTER_MODES = ("router", "agi")
ALL_MODES = (*MODES, "agi")
Progress = Callable[[str], None]
CLOCK_MARGIN = timedelta(seconds=5)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LoadOptions:
    """What to run. ``ari=None``: a PBX without ARI access (no leftover check)."""

    rate: float
    calls: int
    mix: Mix | None = None
    operators: int = 50
    mode: str = "router"
    # the sandbox instance's by default (sip_test_harness/instance.py)
    target: str = field(default_factory=lambda: f"{current().host}:{SIP_PORT}")
    local_ip: str = field(default_factory=lambda: current().host)
    ari: AriAccess | None = field(default_factory=AriAccess)
    asterisk_pid: int | None = None
    app_pid: int | None = None  # router (or the benchmark's ARI app) to measure
    keep_logs: bool = False
    drain_timeout: float = 30.0
    ivr: bool = True  # the sandbox router's rules: a menu for callers it does not know
    managers: bool = False  # known callers have an assigned manager, rung first


@dataclass
class _Run:
    options: LoadOptions
    mix: Mix
    workdir: Path
    operators: list[str]
    never: list[str]
    reject: list[str]
    streams: list[files.StreamFiles]
    callers: list[SippProcess]
    phones: SippProcess | None = None
    rss_mb: list[float] = field(default_factory=list)  # the router's, one per progress tick


def caller_ports(mode: str) -> tuple[int, ...]:
    """Source ports of the caller SIPps: the trunk's, or bench-trunk's for the baselines."""
    return CALLER_PORTS if mode in ROUTER_MODES else BENCH_CALLER_PORTS


def prepare(options: LoadOptions, workdir: Path) -> _Run:
    """Check the options and write every file of the run (no process started)."""
    if options.mode not in ALL_MODES:
        raise HarnessError(f"unknown mode {options.mode!r} (known: {', '.join(ALL_MODES)})")
    if options.rate <= 0 or options.calls <= 0:
        raise HarnessError("--rate and --calls must be positive")
    mix = options.mix or load_mix()
    operators = files.load_operators(options.operators)
    never = scenarios.never_answering(operators, mix.operators.never_answer_share)
    reject = scenarios.rejecting(operators, mix.operators.reject_share, never)
    # dial mode dials each call's operator directly: only ones that answer
    answering = [op for op in operators if op not in never and op not in reject]
    counts = mix.counts(options.calls)
    streams = files.write_streams(workdir, mix, counts, options.mode, answering)
    rules = files.rules_yaml(
        operators, options.ivr, agi=options.mode == "agi", managers=options.managers
    )
    (workdir / "rules.yaml").write_text(rules, encoding="utf-8")
    patients = files.patients_csv(streams, answering if options.managers else ())
    (workdir / "patients.csv").write_text(patients, encoding="utf-8")
    (workdir / "operators.xml").write_text(scenarios.operators_xml(mix.operators, never, reject))
    return _Run(options, mix, workdir, operators, never, reject, streams, callers=[])


def check_ports(mode: str, streams: int, local_ip: str) -> None:
    """HarnessError naming the port when a SIPp of ours could not bind."""
    for port in (LOAD_OPERATOR_PORT, *caller_ports(mode)[:streams]):
        if udp_port_bound(port, local_ip):
            raise HarnessError(
                f"port {local_ip}:{port}/udp is taken (another SIPp or load run?); "
                "stop it, or wait for the sandbox lock"
            )


def _caller_run(run: _Run, index: int, rates: dict[str, float]) -> SippRun:
    files_ = run.streams[index]
    stream = files_.stream
    xml = run.workdir / f"{stream.name}.xml"
    xml.write_text(scenarios.caller_xml(stream))
    rate = rates[stream.name]
    count = len(files_.numbers)
    # -r calls per -rp ms: thousandths of a call per second, for shares of small rates
    extra: tuple[str, ...] = ("-r", str(max(1, round(rate * 1000))), "-rp", "1000000")
    extra += ("-l", str(count + 1), "-inf", str(files_.injection), "-trace_logs", "-log_file")
    extra += (str(run.workdir / f"{stream.name}.log.log"),)
    return SippRun(
        name=stream.name,
        scenario=xml,
        port=caller_ports(run.options.mode)[index],
        log_dir=run.workdir,
        max_calls=count,
        timeout=count / rate + scenarios.NO_ANSWER_TIMEOUT_S + 120,
        remote=run.options.target,
        full_trace=False,
        local_ip=run.options.local_ip,
        extra=extra,
    )


async def _start_phones(run: _Run) -> None:
    sipp_run = SippRun(
        name="lop",
        scenario=run.workdir / "operators.xml",
        port=LOAD_OPERATOR_PORT,
        log_dir=run.workdir,
        max_calls=100_000_000,
        timeout=86_400,
        full_trace=False,
        local_ip=run.options.local_ip,
        extra=("-trace_logs", "-log_file", str(run.workdir / "lop.log.log")),
    )
    run.phones = SippProcess(sipp_run)
    await run.phones.start()
    deadline = time.monotonic() + 15
    while not udp_port_bound(LOAD_OPERATOR_PORT, run.options.local_ip):
        if run.phones.returncode is not None or time.monotonic() > deadline:
            raise SippError(f"load operators' SIPp did not start: {run.phones.errors()}")
        await asyncio.sleep(0.02)
    if run.options.ari is not None:
        # every operator: an endpoint whose qualify has not yet seen the new SIPp has no
        # usable contact, and Dial/Queue/originate fail on it at once (every 5 s in the sandbox)
        await observe.wait_online(run.options.ari, run.operators, 20)


def _caller_calls(run: _Run) -> list[stats.CallerCall]:
    out: list[stats.CallerCall] = []
    for process in run.callers:
        name = process.run.name
        messages = stats.read_messages(process.run.log("short"))
        out += stats.caller_calls(name, messages, run.workdir / f"{name}.log.log")
    return out


def tick_s(options: LoadOptions) -> float:
    """Seconds between progress lines: each re-reads the SIPp logs, so a soak ticks slower."""
    return 2.0 if options.calls / options.rate < 300 else 30.0


async def _progress(run: _Run, progress: Progress, started: float) -> None:
    abandon = {s.name for s in run.mix.streams if s.abandon_after is not None}
    while True:
        await asyncio.sleep(tick_s(run.options))
        calls = _caller_calls(run)
        answered = sum(1 for c in calls if c.answered_at is not None)
        failed = sum(
            1 for c in calls if c.final_status is not None and c.failed(c.stream in abandon)
        )
        line = (
            f"[{time.monotonic() - started:5.1f}s] placed {len(calls)}/{run.options.calls}, "
            f"answered {answered}, failed {failed}"
        )
        rss = procstat.rss_mb(run.options.app_pid) if run.options.mode in ROUTER_MODES else None
        if rss is not None:
            run.rss_mb.append(rss)
            line += f", router RSS {rss} MB"
        progress(line)


async def _drive(run: _Run, progress: Progress) -> float:
    rates = run.mix.rates(run.options.rate)
    started = time.monotonic()
    for index, files_ in enumerate(run.streams):
        if files_.numbers:
            run.callers.append(SippProcess(_caller_run(run, index, rates)))
    for process in run.callers:
        await process.start()
    ticker = asyncio.create_task(_progress(run, progress, started))
    try:
        for process in run.callers:
            code = await process.wait(process.run.timeout + 10)
            if code not in (0, 1):  # 1: some calls failed (counted from the traces)
                progress(f"caller SIPp {process.run.name} exit {code}: {process.errors(3)}")
    finally:
        ticker.cancel()
    return time.monotonic() - started


async def _stop_all(run: _Run) -> None:
    processes = [*run.callers, *([run.phones] if run.phones else [])]
    for process in processes:
        process.terminate()
    await asyncio.gather(*(p.stop() for p in processes))


async def run_load(
    options: LoadOptions,
    *,
    router: observe.RouterApi | None = None,
    progress: Progress = _stderr,
    workdir: Path | None = None,
) -> report.LoadReport:
    """Run the load and return its report; ``router``: read journeys for ``lost``."""
    own_dir = workdir is None
    folder = workdir or Path(tempfile.mkdtemp(prefix="clinic-load-"))
    run = prepare(options, folder)
    check_ports(options.mode, len(run.streams), options.local_ip)
    before = [procstat.cpu_seconds(options.asterisk_pid), procstat.cpu_seconds(options.app_pid)]
    # This run's journeys only (a router's history holds earlier runs of the same numbers);
    # the margin allows for the router's clock being a little behind ours.
    since = datetime.now(UTC) - CLOCK_MARGIN
    ok = False
    try:
        await _start_phones(run)
        progress(f"{len(run.operators)} operators ready; placing {options.calls} calls")
        duration = await _drive(run, progress)
        leftovers: tuple[int | None, int | None] = (None, None)
        if options.ari is not None:
            leftovers = await observe.wait_drained(options.ari, options.drain_timeout)
        after = [procstat.cpu_seconds(options.asterisk_pid), procstat.cpu_seconds(options.app_pid)]
        result = await _report(run, router, leftovers, since)
        result.duration_s = round(duration, 1)
        result.asterisk_cpu_ms_per_call = procstat.ms_per_call(before[0], after[0], result.offered)
        app_cpu = procstat.ms_per_call(before[1], after[1], result.offered)
        if options.mode in ROUTER_MODES:
            result.router_cpu_ms_per_call = app_cpu
            result.router_rss_mb = procstat.rss_mb(options.app_pid)
            if run.rss_mb:
                result.router_rss_mb_min, result.router_rss_mb_max = (
                    min(run.rss_mb),
                    max(run.rss_mb),
                )
        else:
            result.app_cpu_ms_per_call = app_cpu
        ok = result.failed == 0 and not result.lost
        return result
    finally:
        await _stop_all(run)
        if own_dir and not (options.keep_logs or not ok):
            shutil.rmtree(folder, ignore_errors=True)
        elif not ok:
            progress(f"logs kept in {folder}")


async def _report(
    run: _Run,
    router: observe.RouterApi | None,
    leftovers: tuple[int | None, int | None],
    since: datetime,
) -> report.LoadReport:
    calls = _caller_calls(run)
    assert run.phones is not None
    side = stats.operator_side(
        stats.read_messages(run.phones.run.log("short")), run.workdir / "lop.log.log"
    )
    stats.attach_operator_side(calls, side)
    abandon = {s.name for s in run.mix.streams if s.abandon_after is not None}
    anonymous_answers = len(side.anonymous_answered)
    planned = {f.stream.name: len(f.numbers) for f in run.streams}
    result = report.summarise(run.options.mode, calls, planned, abandon, anonymous_answers)
    result.leftover_channels, result.leftover_bridges = leftovers
    if router is not None:
        journeys = await router.wait_outcomes(result.offered, 30, since)
        result.lost = observe.lost_calls(calls, journeys, abandon)
        if run.options.mode in ROUTER_MODES and run.options.app_pid is not None:
            # a router the harness started, on its rules: every numbered miss is a task
            tasks = await router.open_task_numbers()
            result.missing_tasks = observe.misses_without_task(journeys, tasks)
            result.lost += result.missing_tasks
        result.router_outcomes = observe.outcomes(journeys)
        if run.options.mode == "agi":
            # decided by the router, not by the dialplan's timeout fallback
            result.agi_decisions = observe.steps_of(journeys, "agi_decision")
            result.menu_keys = observe.menu_keys(journeys)
            result.agi_targets = observe.decision_targets(journeys)
    return result
