"""The benchmark's targets table: each verdict follows the figures it is given."""

from __future__ import annotations

from sip_test_harness.bench_e2e import ModeResult
from sip_test_harness.bench_targets import targets
from sip_test_harness.bench_waiting_report import WaitingResult
from sip_test_harness.load.report import LoadReport


def run(cpu: float, setup_p99: float, *, router: bool) -> LoadReport:
    pct: dict[str, float | None] = {"p50": 1.0, "p90": 2.0, "p99": setup_p99}
    report = LoadReport("x", 400, 400, 0, 0, 0, 50.0, pct, pct, 1.0)
    report.leftover_channels = report.leftover_bridges = 0
    if router:
        report.router_cpu_ms_per_call = cpu
    else:
        report.app_cpu_ms_per_call = cpu
    return report


def results(router_cpu: float, router_best: float) -> dict[str, ModeResult]:
    out = {mode: ModeResult(mode) for mode in ("dial", "queue", "minimal", "router")}
    out["minimal"].runs = {50.0: run(5.0, 10.0, router=False), 100.0: run(5.0, 10.0, router=False)}
    out["queue"].runs = {50.0: run(0.0, 10.0, router=False)}
    out["router"].runs = {50.0: run(router_cpu, 25.0, router=True)}
    if router_best > 50.0:
        out["router"].runs[router_best] = run(router_cpu, 25.0, router=True)
    return out


def verdicts(lines: list[str]) -> list[str]:
    return [line.rsplit("|", 2)[1].strip() for line in lines[4:] if line.startswith("|")]


def test_targets_met_and_missed_follow_the_figures() -> None:
    waiting = WaitingResult(callers=1000, rate=50, window_s=30, waiting=1000)
    waiting.rss_per_caller_kb, waiting.lag_p99_ms = 40.0, 2500.0
    lines = targets(results(router_cpu=10.0, router_best=100.0), 50.0, [waiting])
    assert verdicts(lines) == [
        "**missed**",  # CPU 2.0x > 1.5x
        "met",  # 100 vs 100 calls/s
        "met",  # 100 vs 50: 2.0x >= 1.2x
        "met",  # setup p99 +15 ms
        "met",  # 40 KB per caller
        "**missed**",  # lag 2500 ms
    ]
    lines = targets(results(router_cpu=7.0, router_best=50.0), 50.0, [])
    assert verdicts(lines)[:3] == ["met", "**missed**", "**missed**"]
