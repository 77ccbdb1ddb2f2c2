"""``make bench``: micro-benchmarks, the interleaved end-to-end A/B ramp, AGI mode against
app_queue (``bench_agi_e2e``), then 1,000 callers waiting at once (``bench_waiting``).

Prints the side-by-side table and writes it, with machine, date and commit, to
docs/benchmarks.md. A benchmark reports figures; it never fails.
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

import aiohttp

from sip_test_harness import bench_agi_e2e, bench_micro, bench_waiting
from sip_test_harness.bench_e2e import LABELS, MODES, ModeResult, ramp
from sip_test_harness.bench_targets import targets
from sip_test_harness.bench_waiting_report import WaitingResult
from sip_test_harness.errors import HarnessError
from sip_test_harness.router_process import REPO
from sip_test_harness.sandbox import Sandbox

RATES = (25.0, 50.0, 75.0, 100.0, 150.0)
COMMON_RATE = 50.0
SECONDS = 8.0  # of calls per run
OUT = REPO / "docs" / "benchmarks.md"
# 1,000 is the figure; 250 is a size this 2-core box holds (Asterisk saturates
# near 400 callers each in a bridge with music), so both are measured
WAITING = tuple(
    bench_waiting.WaitingOptions(callers=n, rate=50.0, window_s=30.0) for n in (250, 1000)
)


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            models = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
    except OSError:
        models = []
    cpu = models[0] if models else cpu
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        # the sandbox's chroot relative to the checkout: no machine's own paths in the docs
        f"Python {platform.python_version()}, {Sandbox().status()}".replace("\n", " ").replace(
            f"{REPO}/", ""
        )
        + f"\n\nDate: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Commit: `{commit}`."
    )


def _fmt(value: object) -> str:
    return "—" if value is None else str(value)


def _table(results: dict[str, ModeResult]) -> list[str]:
    lines = [
        f"| mode | highest clean rate (calls/s, ramp {'/'.join(f'{r:g}' for r in RATES)}) "
        f"| setup p50 / p99 ms at {COMMON_RATE:g}/s | INVITE→operator ringing p50 / p99 ms "
        "| Asterisk CPU ms/call | app CPU ms/call | router RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        result = results[mode]
        run = result.runs.get(COMMON_RATE)
        setup = ring = "—"
        ast = app = rss = None
        if run is not None:
            setup = f"{_fmt(run.setup_ms['p50'])} / {_fmt(run.setup_ms['p99'])}"
            ring = f"{_fmt(run.ring_ms['p50'])} / {_fmt(run.ring_ms['p99'])}"
            ast = run.asterisk_cpu_ms_per_call
            app = run.router_cpu_ms_per_call or run.app_cpu_ms_per_call
            rss = run.router_rss_mb
        stop = f" (failed at {result.stopped_at:g})" if result.stopped_at else ""
        lines.append(
            f"| {LABELS[mode]} | {_fmt(result.best_rate)}{stop} | {setup} | {ring} | "
            f"{_fmt(ast)} | {_fmt(app)} | {_fmt(rss)} |"
        )
    return lines


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if not a or not b else f"{a / b:.2f}×"


def _ratios(results: dict[str, ModeResult]) -> list[str]:
    router = results["router"]
    common = router.runs.get(COMMON_RATE)
    lines = []
    for mode in ("dial", "queue", "minimal"):
        other = results[mode]
        base = other.runs.get(COMMON_RATE)
        line = f"- clinic-router vs {LABELS[mode]}: highest clean rate "
        line += _ratio(router.best_rate, other.best_rate)
        if common and base:
            line += ", Asterisk CPU/call " + _ratio(
                common.asterisk_cpu_ms_per_call, base.asterisk_cpu_ms_per_call
            )
            if mode == "minimal":
                line += ", app CPU/call " + _ratio(
                    common.router_cpu_ms_per_call, base.app_cpu_ms_per_call
                )
            p99, base_p99 = common.setup_ms["p99"], base.setup_ms["p99"]
            if p99 is not None and base_p99 is not None:
                line += f", setup p99 {p99 - base_p99:+.1f} ms"
        lines.append(line)
    return lines


def _waiting(options: bench_waiting.WaitingOptions) -> tuple[list[str], WaitingResult | None]:
    """One waiting-callers section; a run that could not be made says why."""
    print(f"{options.callers:,} callers waiting at once...", flush=True)
    try:
        result = bench_waiting.run(options)
    except (HarnessError, aiohttp.ClientError, OSError) as exc:
        print(f"  waiting callers: run failed: {exc!r}", flush=True)
        return [f"## {options.callers:,} callers waiting", "", f"Not measured: {exc}", ""], None
    return bench_waiting.markdown(result), result


def main() -> int:
    """Run everything (≈ 7 min with the patient store cached) and write the report."""
    print("micro-benchmarks (in process)...", flush=True)
    micros = bench_micro.run_all()
    for m in micros:
        print(f"  {m.name}: median {m.median_us} µs, p99 {m.p99_us} µs ({m.note})", flush=True)
    journal = bench_micro.journal_writes()
    print(f"  journal writes: {journal.cpu_ms_per_call} CPU ms per call", flush=True)
    print("end to end, interleaved A/B ramp...", flush=True)
    results = ramp(RATES, SECONDS)
    print("AGI mode against app_queue, interleaved ramp...", flush=True)
    agi = bench_agi_e2e.markdown(bench_agi_e2e.run(RATES, SECONDS))
    runs = [_waiting(options) for options in WAITING]
    waiting = [line for lines, _ in runs for line in lines]
    measured = [result for _, result in runs if result is not None]
    text = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m sip_test_harness bench`) from a real run; "
        "rerun it as routing features land. Figures, not asserts.",
        "",
        f"Machine: {_machine()}",
        "",
        "## In-process decisions",
        "",
        "| decision | median µs | p99 µs | setup |",
        "|---|---|---|---|",
        *(f"| {m.name} | {m.median_us} | {m.p99_us} | {m.note} |" for m in micros),
        "",
        f"Journal writes per call ({journal.writes_per_call} writes: create, 6 events, "
        f"4 updates, 1 ring attempt; {journal.calls} calls at {journal.rate:g}/s into a "
        "SQLite file through the journey writer; CPU of every thread, the driver's removed): "
        f"batched {journal.cpu_ms_per_call['batched']} ms, one transaction per write "
        f"{journal.cpu_ms_per_call['per_write']} ms; batched with the call's first row "
        f"written at once and waited for, as the router does before the answer, "
        f"{journal.cpu_ms_per_call['arrival_first']} ms, the wait median "
        f"{journal.arrival_wait_ms[0]} ms, p99 {journal.arrival_wait_ms[1]} ms.",
        "",
        "## End to end: the same calls through four call paths",
        "",
        f"Each run: {SECONDS:g} s of calls from unknown numbers (one SIPp UAC), 200 load "
        "operators on one SIPp UAS answering at once, the caller hangs up 1 s after the "
        "answer. Rates interleaved (every mode at a rate before the next rate); a mode "
        "leaves the ramp at its first run with a failed or lost call or a leftover channel "
        "or bridge. Setup = caller's INVITE → its 200 OK (ARI apps answer before ringing "
        "the operator; Dial/Queue answer when the operator does), so compare the ringing "
        "column across modes. CPU per call = process CPU over the run / calls offered.",
        "",
        *_table(results),
        "",
        "Ratios at the same run:",
        "",
        *_ratios(results),
        "",
        *agi,
        *waiting,
        *targets(results, COMMON_RATE, measured),
    ]
    OUT.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text[text.index("## End to end: the same calls through four call paths") :]))
    print(f"written to {OUT}")
    return 0
