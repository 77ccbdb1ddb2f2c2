"""``python -m sip_test_harness day``: a clinic network's day played through the sandbox.

    python -m sip_test_harness day [--calls 1600] [--profile monday] [--seed 16] [--scale 60]

Generates the day (`day_plan`), then, holding the sandbox lock: starts the real router on
its embedded defaults with the day's rules and scaled timers, imports the known callers
as patients, starts one SIPp UAS for the day's operators (lop001..lop017) and one for the
patients' phones (callbacks), places every call from one SIPp UAC at its scaled arrival,
waits until Asterisk is empty and every callback task is closed, and prints the report's
figures for the day next to what SIPp saw (`day_check`). Exit 0 only when they agree
within the stated tolerance and every miss was worked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sip_test_harness import day_check
from sip_test_harness.day_plan import (
    MAX_OPERATORS,
    OPERATORS,
    PROFILES,
    DayPlan,
    day_rules,
    day_settings,
    generate_day,
    injection_csv,
    patients_csv,
)
from sip_test_harness.day_scenarios import ANSWER_TIMEOUT_S, caller_xml
from sip_test_harness.errors import HarnessError
from sip_test_harness.instance import current
from sip_test_harness.load import observe
from sip_test_harness.load.scenarios import operators_xml
from sip_test_harness.load.stats import read_log_pairs
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_process import REPO, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import CALLER_PORTS, LOAD_OPERATOR_PORT, PATIENTS_PORT
from sip_test_harness.sipp_logs import read_shortmsg
from sip_test_harness.sipp_process import SippProcess, SippRun, udp_port_bound

IMPORT_TIMEOUT_S = 600.0
CALLBACK_DRAIN_S = 600.0  # after the last call: every callback task must be closed by then
MARGIN = timedelta(seconds=5)  # the report's period starts this much before the first call


@dataclass
class DayResult:
    plan: DayPlan
    calls: dict[str, Any]  # the report's `calls` total row
    misses: dict[str, Any]  # the report's misses figures
    operators: list[dict[str, Any]]
    seen: day_check.SippDay
    agreements: list[day_check.Agreement]
    problems: list[str]  # "every miss worked" failures
    played_s: float

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.agreements) and not self.problems and self.seen.failed == 0

    def table(self) -> str:
        p, c, m = self.plan, self.calls, self.misses
        t = p.timers
        lines = [
            f"generated day: {len(p.calls)} calls, profile {p.profile}, seed {p.seed}, "
            f"{len(p.operators)} operators, scale 1:{p.scale:g} "
            f"(played in {self.played_s / 60:.1f} min)",
            f"router timers (scaled, whole seconds, at their floors): ring timeout "
            f"{t.ring_timeout_s} s, max wait {t.max_wait_s} s, menu timeout {t.menu_timeout_s} s, "
            f"callback retries after {list(t.retry_after_min)} min, patient ring "
            f"{t.patient_ring_timeout_s} s",
            "",
            "report (times in played seconds; x scale for the day's):",
            f"  offered {c['offered']}, answered {c['answered']}, abandoned {c['abandoned']} "
            f"(menu {c['abandoned_in_menu']}, waiting {c['abandoned_waiting']}, ringing "
            f"{c['abandoned_ringing']}), no operator {c['no_operator']}, call-back promised "
            f"{c['callback_promised']}",
            f"  service level {_pct(c['service_level'])} of {c['waited']} who waited "
            f"(target 20 s of the day), ASA {_secs(c['asa_s'])}, wait p50/p90/max "
            f"{_secs(c['wait_p50_s'])}/{_secs(c['wait_p90_s'])}/{_secs(c['wait_max_s'])}, "
            f"talk avg {_secs(c['talk_avg_s'])}",
            f"  route to first ring: known {_secs(c['route_known_s'])}, unknown "
            f"{_secs(c['route_unknown_s'])}",
            f"  misses {m['misses']} ({_reasons(m)}), tasks {m['tasks_created']}, called back "
            f"{m['called_back']}, called in {m['called_in']}, unreachable {m['unreachable']}, "
            f"worked {_pct(m['worked_share'])}, open now {m['open_now']}",
            f"  first attempt p50 {_secs(m['first_attempt_p50_s'])}, reached p50/p90 "
            f"{_secs(m['reached_p50_s'])}/{_secs(m['reached_p90_s'])}",
            "  operators (worst first): "
            + ", ".join(
                f"{o['operator_id']} {o['answered']}/{o['rings']} ({o['rang_out']} rang out)"
                for o in self.operators[:5]
            ),
            "",
            f"SIPp: placed {self.seen.placed}, answered {self.seen.answered}, abandoned "
            f"{self.seen.abandoned}, ended by the clinic {self.seen.ended_by_clinic}, failed "
            f"{self.seen.failed}; patients dialled back {len(self.seen.dialled_back)}, "
            f"answered {len(self.seen.patients_answered)}",
            "",
            f"{'figure':<24}{'report':>8}{'SIPp':>8}{'tolerance':>11}",
        ]
        for a in self.agreements:
            lines.append(
                f"{a.figure:<24}{a.report:>8g}{a.sipp:>8g}{'±' + format(a.tolerance, 'g'):>11}"
                f"  {'ok' if a.ok else 'DISAGREE'}"
            )
        lines.append(
            "every miss worked: yes"
            if not self.problems
            else "every miss worked: NO: " + "; ".join(self.problems)
        )
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _reasons(misses: dict[str, Any]) -> str:
    reasons = {k.split(".", 1)[1]: v for k, v in misses.items() if k.startswith("by_reason.")}
    return ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"


def _uas(name: str, scenario: Path, port: int, workdir: Path) -> SippProcess:
    return SippProcess(
        SippRun(
            name=name,
            scenario=scenario,
            port=port,
            log_dir=workdir,
            max_calls=100_000_000,
            timeout=86_400,
            full_trace=False,
            extra=("-trace_logs", "-log_file", str(workdir / f"{name}.log.log")),
        )
    )


def _caller(plan: DayPlan, workdir: Path) -> SippProcess:
    count = len(plan.calls)
    return SippProcess(
        SippRun(
            name="day",
            scenario=workdir / "day.xml",
            port=CALLER_PORTS[0],
            log_dir=workdir,
            max_calls=count,
            timeout=plan.length_s + ANSWER_TIMEOUT_S + 600,
            remote=f"{current().host}:5060",  # this process's sandbox instance
            full_trace=False,
            # every call starts at once and waits for its own arrival (the scenario)
            extra=(
                *("-r", "1000", "-rp", "1000", "-l", str(count + 1)),
                *("-inf", str(workdir / "day.csv"), "-trace_logs"),
                *("-log_file", str(workdir / "day.log.log")),
            ),
        )
    )


def write_files(plan: DayPlan, workdir: Path) -> None:
    (workdir / "rules.yaml").write_text(day_rules(plan), encoding="utf-8")
    (workdir / "patients.csv").write_text(patients_csv(plan), encoding="utf-8")
    (workdir / "day.csv").write_text(injection_csv(plan), encoding="ascii")
    (workdir / "day.xml").write_text(caller_xml(plan), encoding="utf-8")
    (workdir / "operators.xml").write_text(operators_xml(plan.operator_mix, []))
    (workdir / "patients.xml").write_text(operators_xml(plan.patient_mix, []))


async def _start_router(plan: DayPlan, workdir: Path) -> RouterProcess:
    router = RouterProcess(
        workdir,
        rules=workdir / "rules.yaml",
        ring_timeout_s=plan.timers.ring_timeout_s,
        extra_settings=day_settings(plan),
        log_level="info",
    )
    # (not `router.cli`: its 2 minutes are too short for a busy CI machine)
    command = [sys.executable, "-m", "router", "patients", "import"]
    command += [str(workdir / "patients.csv"), "--config", str(router.config)]
    imported = await asyncio.to_thread(
        subprocess.run, command, env=router.env, capture_output=True, text=True,
        timeout=IMPORT_TIMEOUT_S, cwd=REPO,
    )  # fmt: skip
    if imported.returncode != 0:
        raise HarnessError(f"patients import failed: {imported.stderr or imported.stdout}")
    await router.start()
    return router


async def _start_phones(plan: DayPlan, workdir: Path) -> list[SippProcess]:
    for port in (LOAD_OPERATOR_PORT, PATIENTS_PORT, CALLER_PORTS[0]):
        if udp_port_bound(port, current().host):
            raise HarnessError(f"port {current().host}:{port}/udp is taken (another SIPp?)")
    phones = [
        _uas("lop", workdir / "operators.xml", LOAD_OPERATOR_PORT, workdir),
        _uas("patients", workdir / "patients.xml", PATIENTS_PORT, workdir),
    ]
    for phone in phones:
        await phone.start()
    await observe.wait_online(AriAccess(), [*plan.operators, "patients"], 30)
    return phones


async def report_section(
    router: RouterProcess, section: str, start: datetime, **params: str
) -> Any:
    query = urlencode({"from": start.isoformat(), "to": datetime.now(UTC).isoformat(), **params})
    return (await router.get(f"/api/reports/{section}?{query}"))["rows"]


_ENDED = ("answered", "abandoned", "no_operator", "callback_promised", "message", "failed")


async def wait_calls_ended(
    router: RouterProcess, start: datetime, plan: DayPlan, timeout: float = 30.0
) -> dict[str, Any]:
    """The calls total once every call has its outcome written (the journal writes in
    batches); the service-level target is the router's 20 s, scaled."""
    deadline = time.monotonic() + timeout
    target = f"{20 / plan.scale:.3f}"
    while True:
        rows = await _patiently(lambda: report_section(router, "calls", start, sl_target=target))
        total: dict[str, Any] = rows[-1]
        if sum(total[k] for k in _ENDED) >= total["offered"] or time.monotonic() > deadline:
            return total
        await asyncio.sleep(0.5)


async def _misses(router: RouterProcess, start: datetime) -> dict[str, Any]:
    rows = await report_section(router, "misses", start)
    return {r["figure"]: r["value"] for r in rows}


async def _patiently(read: Any, attempts: int = 5) -> Any:
    """A report request, asked again when a loaded machine makes it time out."""
    for attempt in range(attempts):
        try:
            return await read()
        except (TimeoutError, aiohttp.ClientError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(2.0)
    raise AssertionError("unreachable")


async def wait_worked(router: RouterProcess, start: datetime, timeout: float) -> dict[str, Any]:
    """The misses figures once no callback task is open (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        misses: dict[str, Any] = await _patiently(lambda: _misses(router, start))
        if misses["open_now"] == 0 or time.monotonic() > deadline:
            return misses
        await asyncio.sleep(1.0)


async def _progress(caller: SippProcess, plan: DayPlan, started: float) -> None:
    while True:
        await asyncio.sleep(30)
        placed = sum(
            1 for m in read_shortmsg(caller.run.log("short")) if m.sent and m.method == "INVITE"
        )
        print(
            f"[{(time.monotonic() - started) / 60:4.1f} min of {plan.length_s / 60:.1f}] "
            f"{placed}/{len(plan.calls)} calls placed",
            file=sys.stderr,
            flush=True,
        )


async def play_day(plan: DayPlan, workdir: Path) -> DayResult:
    """Play `plan` through a sandbox that is up (the caller holds the sandbox lock)."""
    write_files(plan, workdir)
    router = await _start_router(plan, workdir)
    processes: list[SippProcess] = []
    try:
        processes += await _start_phones(plan, workdir)
        start = datetime.now(UTC) - MARGIN
        caller = _caller(plan, workdir)
        processes.append(caller)
        began = time.monotonic()
        await caller.start()
        ticker = asyncio.create_task(_progress(caller, plan, began))
        try:
            code = await caller.wait(caller.run.timeout + 10)
        finally:
            ticker.cancel()
        played = time.monotonic() - began
        if code not in (0, 1):  # 1: some calls failed (counted from the traces)
            raise HarnessError(f"the day's caller SIPp exited {code}: {caller.errors(3)}")
        await observe.wait_drained(AriAccess(), 60)
        misses = await wait_worked(router, start, CALLBACK_DRAIN_S)
        calls = await wait_calls_ended(router, start, plan)
        operators = await _patiently(lambda: report_section(router, "operators", start))
    finally:
        for process in processes:
            process.terminate()
        await asyncio.gather(*(p.stop() for p in processes))
        await router.stop()
    return _result(plan, workdir, calls, misses, operators, played)


def _result(
    plan: DayPlan,
    workdir: Path,
    calls: dict[str, Any],
    misses: dict[str, Any],
    operators: list[dict[str, Any]],
    played: float,
) -> DayResult:
    seen_calls = day_check.caller_calls(
        read_shortmsg(workdir / "day.short.log"), read_log_pairs(workdir / "day.log.log")
    )
    answers = day_check.operator_answers(
        read_shortmsg(workdir / "lop.short.log"), read_log_pairs(workdir / "lop.log.log")
    )
    day_check.mark_answered(seen_calls, answers)
    seen = day_check.sipp_day(seen_calls, read_shortmsg(workdir / "patients.short.log"))
    return DayResult(
        plan,
        calls,
        misses,
        operators,
        seen,
        day_check.agreements(calls, misses, seen),
        day_check.every_miss_worked(misses, seen),
        played,
    )


async def _run(plan: DayPlan, keep_logs: bool) -> DayResult:
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    workdir = Path(tempfile.mkdtemp(prefix="clinic-day-"))
    result = None
    try:
        result = await play_day(plan, workdir)
        return result
    finally:
        await asyncio.to_thread(sandbox.hangup_all)
        if keep_logs or result is None or not result.ok:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calls", type=_count(1, None), default=1600, help="calls in the day (1600)"
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="monday")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--scale", type=_scale, default=60.0, help="the day's times divided by this (60: 12 min)"
    )
    parser.add_argument(
        "--operators", type=_count(1, MAX_OPERATORS), default=OPERATORS,
        help=f"operators on duty, 1-{MAX_OPERATORS} ({OPERATORS})",
    )  # fmt: skip
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--keep-logs", action="store_true")


def _count(low: int, high: int | None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` (to `high`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number, not {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"{low}-{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{span}, not {value}")
        return value

    return parse


def _scale(text: str) -> float:
    """An argparse type: the factor every time is divided by, a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"a finite number above 0, not {text}")
    return value


def main(args: argparse.Namespace) -> int:
    """Run the ``day`` subcommand; exit 0 when the report agrees with SIPp and every miss
    was worked."""
    try:
        plan = generate_day(
            args.calls,
            profile=args.profile,
            seed=args.seed,
            scale=args.scale,
            operators=args.operators,
        )
    except ValueError as exc:
        raise HarnessError(str(exc)) from exc
    with sandbox_lock():
        result = asyncio.run(_run(plan, args.keep_logs))
    if args.format == "json":
        print(json.dumps(_json(result), indent=2))
    else:
        print(result.table(), flush=True)
    return 0 if result.ok else 1


def _json(result: DayResult) -> dict[str, Any]:
    return {
        "calls": result.calls,
        "misses": result.misses,
        "sipp": {
            "placed": result.seen.placed,
            "answered": result.seen.answered,
            "abandoned": result.seen.abandoned,
            "ended_by_clinic": result.seen.ended_by_clinic,
            "failed": result.seen.failed,
        },
        "agreements": [
            {"figure": a.figure, "report": a.report, "sipp": a.sipp, "tolerance": a.tolerance}
            for a in result.agreements
        ],
        "every_miss_worked": not result.problems,
        "problems": result.problems,
        "ok": result.ok,
    }
