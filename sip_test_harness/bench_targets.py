"""The issue's targets next to the figures of one ``make bench`` run (figures, not asserts)."""

from __future__ import annotations

from collections.abc import Sequence

from sip_test_harness.bench_e2e import ModeResult
from sip_test_harness.bench_waiting_report import WaitingResult


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**missed**")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else round(a / b, 2)


def targets(
    results: dict[str, ModeResult], common_rate: float, waiting: Sequence[WaitingResult]
) -> list[str]:
    """Markdown rows: target, this run's figure, met or missed."""
    router, minimal, queue = results["router"], results["minimal"], results["queue"]
    at_router, at_minimal = router.runs.get(common_rate), minimal.runs.get(common_rate)
    rows = []
    cpu = _ratio(
        at_router.router_cpu_ms_per_call if at_router else None,
        at_minimal.app_cpu_ms_per_call if at_minimal else None,
    )
    rows.append(
        ("router CPU per routed call ≤ 1.5× the minimal ARI app's", f"{cpu}×", cpu, 1.5, True)
    )
    for name, base, factor in (("minimal ARI app", minimal, 1.0), ("app_queue", queue, 1.2)):
        ratio = _ratio(router.best_rate, base.best_rate)
        rows.append(
            (
                f"highest clean rate ≥ {factor:g}× {name}'s",
                f"{router.best_rate} vs {base.best_rate} calls/s ({ratio}×)",
                ratio,
                factor,
                False,
            )
        )
    setup = None
    if at_router and at_minimal:
        p99, floor = at_router.setup_ms["p99"], at_minimal.setup_ms["p99"]
        setup = None if p99 is None or floor is None else round(p99 - floor, 1)
    rows.append(
        (
            f"setup p99 at {common_rate:g}/s ≤ minimal ARI + 20 ms",
            f"{setup:+} ms" if setup is not None else "—",
            setup,
            20.0,
            True,
        )
    )
    for run in waiting:
        rows.append(
            (
                f"router RSS ≤ 50 KB per waiting caller ({run.callers:,} callers)",
                f"{run.rss_per_caller_kb} KB ({run.waiting} waiting)",
                run.rss_per_caller_kb,
                50.0,
                True,
            )
        )
        rows.append(
            (
                f"event-loop lag p99 ≤ 20 ms ({run.callers:,} callers)",
                f"≤ {run.lag_p99_ms} ms (bucket bound)" if run.lag_p99_ms is not None else "—",
                run.lag_p99_ms,
                20.0,
                True,
            )
        )
    lines = ["## Targets", "", "| target | this run | |", "|---|---|---|"]
    for text, figure, value, bound, at_most in rows:
        ok = None if value is None else (value <= bound if at_most else value >= bound)
        lines.append(f"| {text} | {figure} | {_verdict(ok)} |")
    return [*lines, ""]
