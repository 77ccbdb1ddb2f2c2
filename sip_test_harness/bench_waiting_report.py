"""Figures of the waiting-callers benchmark, and how they are printed and written."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

RSS_TARGET_KB = 50.0
LAG_TARGET_MS = 20.0


@dataclass
class WaitingResult:
    """One run of ``bench_waiting``; None where a figure could not be taken."""

    callers: int
    rate: float
    window_s: float
    announce_every_s: int = 30
    waiting: int = 0  # callers in the router's waiting room when the window began
    waiting_end: int | None = None
    fill_s: float | None = None  # first INVITE -> everyone waiting (or the count stalled)
    sip_failures: dict[str, int] = field(default_factory=dict)  # final status -> calls
    rss_before_mb: float | None = None
    rss_full_mb: float | None = None
    rss_end_mb: float | None = None
    rss_drained_mb: float | None = None
    rss_per_caller_kb: float | None = None
    asterisk_rss_mb: float | None = None
    lag_samples: int = 0
    lag_p50_ms: float | None = None  # bucket bounds: "at most"
    lag_p99_ms: float | None = None
    lag_mean_ms: float | None = None
    ramp_lag_p99_ms: float | None = None  # while the calls arrived
    asterisk_cpu_pct: float | None = None
    router_cpu_pct: float | None = None
    sipp_cpu_pct: float | None = None
    router_runqueue_wait_s: float | None = None  # its event loop runnable, but no CPU free
    asterisk_threads: int | None = None
    announcements: int | None = None
    ari_channels: int | None = None  # ARI GET /channels, everyone waiting
    ari_bridges: int | None = None
    leftover_channels: int | None = None
    leftover_bridges: int | None = None
    asterisk_complaints: list[str] = field(default_factory=list)


def _bound(ms: float | None) -> str:
    if ms is None:
        return "—"
    if math.isinf(ms):
        return "> 5000 ms"
    return f"≤ {ms:g} ms"


def _opt(value: object, unit: str = "") -> str:
    return "—" if value is None else f"{value}{unit}"


def _met(ok: bool | None) -> str:
    return "" if ok is None else (" (met)" if ok else " (**missed**)")


def table(r: WaitingResult) -> list[str]:
    """The figures next to the targets, as a Markdown table."""
    rss_ok = None if r.rss_per_caller_kb is None else r.rss_per_caller_kb <= RSS_TARGET_KB
    lag_ok = None if r.lag_p99_ms is None else r.lag_p99_ms <= LAG_TARGET_MS
    failures = ", ".join(f"{n} × {status}" for status, n in r.sip_failures.items())
    cores = os.cpu_count() or 1
    return [
        "| figure | measured | target |",
        "|---|---|---|",
        f"| callers waiting at once | {r.waiting} of {r.callers} after {_opt(r.fill_s, ' s')}"
        f"{f' (not in: {failures})' if failures else ''}; {_opt(r.waiting_end)} at the end "
        f"| {r.callers:,} |",
        f"| router RSS per waiting caller | {_opt(r.rss_per_caller_kb, ' KB')} "
        f"({_opt(r.rss_before_mb)} MB before the first call → {_opt(r.rss_full_mb)} MB) "
        f"| ≤ {RSS_TARGET_KB:g} KB{_met(rss_ok)} |",
        f"| event-loop lag p99, {r.window_s:g} s with everyone waiting | {_bound(r.lag_p99_ms)} "
        f"(p50 {_bound(r.lag_p50_ms)}, mean {_opt(r.lag_mean_ms, ' ms')}, "
        f"{r.lag_samples} probes) | ≤ {LAG_TARGET_MS:g} ms{_met(lag_ok)} |",
        f"| event-loop lag p99 while the calls arrived ({r.rate:g}/s) "
        f"| {_bound(r.ramp_lag_p99_ms)} | — |",
        f"| Asterisk CPU over the window | {_opt(r.asterisk_cpu_pct, ' %')} "
        f"(of {cores * 100} % on {cores} cores) | — |",
        f"| router CPU over the window | {_opt(r.router_cpu_pct, ' %')} | — |",
        f"| router's event loop runnable but waiting for a CPU, over the window "
        f"| {_opt(r.router_runqueue_wait_s, ' s')} | — |",
        f"| SIPp (the callers) CPU over the window | {_opt(r.sipp_cpu_pct, ' %')} | — |",
        f"| Asterisk RSS / threads, everyone waiting | {_opt(r.asterisk_rss_mb, ' MB')} / "
        f"{_opt(r.asterisk_threads)} | — |",
        f"| Asterisk's channels / bridges, everyone waiting (ARI) "
        f"| {_opt(r.ari_channels)} / {_opt(r.ari_bridges)} | — |",
        f"| router RSS at the end of the window / after everyone hung up "
        f"| {_opt(r.rss_end_mb, ' MB')} / {_opt(r.rss_drained_mb, ' MB')} | — |",
        f"| announcements journaled (every {r.announce_every_s} s per caller) "
        f"| {_opt(r.announcements)} | — |",
        f"| left in Asterisk after the hang-up | {_opt(r.leftover_channels)} channels, "
        f"{_opt(r.leftover_bridges)} bridges | 0, 0 |",
    ]


def markdown(r: WaitingResult) -> list[str]:
    """The ``docs/benchmarks.md`` section."""
    lines = [
        f"## {r.callers:,} callers waiting",
        "",
        f"`python -m sip_test_harness.bench_waiting --callers {r.callers}`: one SIPp UAC "
        f"places {r.callers:,} calls from unknown numbers at {r.rate:g}/s; the router answers "
        "each and puts it in one queue whose only operator is offline, with music on hold "
        f"in the call's bridge and the announcement plus position every "
        f"{r.announce_every_s} s (a max wait of an hour: nobody leaves). Router RSS per "
        "caller = (RSS once everyone waits − RSS before the first call) / callers waiting. "
        "Lag: the router's own probe (`GET /metrics`, a 100 ms sleep's overshoot), "
        "p50/p99 as histogram bucket bounds (resolution: the bucket width, 5 ms around "
        "20 ms). CPU: process CPU over the window / its length (100 % = one core).",
        "",
        *table(r),
        "",
    ]
    if r.asterisk_complaints:
        lines += [
            "Asterisk's log during the run (most frequent warnings/errors):",
            "",
            *(f"- `{line}`" for line in r.asterisk_complaints),
            "",
        ]
    return lines
