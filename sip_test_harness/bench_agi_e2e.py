"""AGI mode end to end against plain ``app_queue`` on the sandbox (issue 18's figures).

    python -m sip_test_harness.bench_agi_e2e [--rates 25,50,75,100,150] [--seconds 8]

Two parts, both interleaved in one process on one sandbox (bench_e2e's runs):

1. **The ramp**: the benchmark's call (answered at once, the caller hangs up 1 s after the
   answer) at rising rates through plain ``app_queue`` (``bench-inbound``: ``Queue()``,
   no router) and through AGI mode (the shipped AGI dialplan: ``Answer()``, FastAGI to the
   router, ``Queue()`` on the queue the router names; the router follows the call over
   AMI), with ARI mode as a control. Everyone goes straight to the queue. A mode leaves
   the ramp at its first run that is not clean: a failed or lost call (no journey with an
   outcome, or a miss without its callback task), a leftover channel or bridge, or, in AGI
   mode, a call the router did not decide (its journey has no ``agi_decision``: the
   dialplan's timeout fallback served it).
2. **Known and menu callers** at one low rate: a known caller with an assigned manager
   (the router decides at once, no menu; ``Dial()`` to the manager) and an unknown caller
   who hears the menu played over AGI and presses 1 (RFC 2833 telephone-event from SIPp's
   DTMF pcap, 0.5 s after the answer), next to plain ``app_queue``.

The callers send speech from the answer on (SIPp's A-law sample): a silent caller makes
the dialplan's ``Answer()`` wait 500 ms for a first voice frame, which no phone does.
Figures, never asserts; ratios are of runs in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sip_test_harness.bench_e2e import BENCH_MIX, LABELS, ModeResult, describe, one_run, ramp
from sip_test_harness.errors import HarnessError
from sip_test_harness.load.mix import parse_mix
from sip_test_harness.load.report import LoadReport
from sip_test_harness.lock import sandbox_lock

RATES = (25.0, 50.0, 75.0, 100.0, 150.0)
COMMON_RATE = 50.0
SECONDS = 8.0
KNOWN_RATE = 10.0
KNOWN_SECONDS = 10.0
OPERATORS = 200
# ARI mode rides along as a control: on a shared box the neighbours' load moves every
# figure, and a rate at which ARI mode fails too says so
MODES = ("queue", "agi", "router")


def speaking_mix(**stream: Any) -> dict[str, Any]:
    """The benchmark's mix (as parsed YAML) with a caller who speaks, ``stream`` keys added."""
    base = {"name": "bench", "share": 1, "caller": "unknown", "hangup_after": 1.0}
    return {"streams": [{**base, "audio": True, **stream}], "operators": BENCH_MIX["operators"]}


@dataclass(frozen=True)
class Kind:
    """One kind of call of part 2."""

    label: str
    mode: str
    mix: dict[str, Any]
    ivr: bool = False
    managers: bool = False


KINDS = (
    Kind("app_queue, unknown caller (baseline)", "queue", speaking_mix()),
    Kind("AGI mode, known caller with a manager", "agi", speaking_mix(caller="known"), True, True),
    Kind("AGI mode, unknown caller, menu, presses 1", "agi", speaking_mix(dtmf="1"), True),
)


@dataclass
class AgiBench:
    """Everything one benchmark run measured."""

    ramp: dict[str, ModeResult]
    kinds: dict[str, LoadReport | str] = field(default_factory=dict)  # report or failure
    load: list[str] = field(default_factory=list)  # /proc/loadavg at start and end


def loadavg() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def kinds(
    rate: float, seconds: float, progress: Callable[[str], None]
) -> dict[str, LoadReport | str]:
    """Part 2: each kind once at ``rate``, in turn."""
    out: dict[str, LoadReport | str] = {}
    for kind in KINDS:
        mix = parse_mix(kind.mix, f"<{kind.label}>")
        try:
            with sandbox_lock():
                run = asyncio.run(
                    one_run(
                        kind.mode,
                        rate,
                        seconds,
                        mix,
                        OPERATORS,
                        ivr=kind.ivr,
                        managers=kind.managers,
                    )
                )
        except (HarnessError, aiohttp.ClientError, OSError) as exc:
            progress(f"{kind.label}: run failed: {exc}")
            out[kind.label] = f"run failed: {exc}"
            continue
        out[kind.label] = run
        progress(f"{kind.label}: {describe(run)}")
    return out


def run(
    rates: Sequence[float] = RATES,
    seconds: float = SECONDS,
    known_rate: float = KNOWN_RATE,
    known_seconds: float = KNOWN_SECONDS,
    progress: Callable[[str], None] = print,
) -> AgiBench:
    """Both parts, the load average before and after."""
    bench = AgiBench(ramp={}, load=[loadavg()])
    bench.ramp = ramp(rates, seconds, OPERATORS, progress, MODES, speaking_mix())
    bench.kinds = kinds(known_rate, known_seconds, progress)
    bench.load.append(loadavg())
    return bench


def _pair(values: dict[str, float | None]) -> str:
    return f"{_fmt(values['p50'])} / {_fmt(values['p99'])}"


def _fmt(value: object) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if not a or not b else f"{a / b:.2f}×"


def _ramp_rows(bench: AgiBench, rates: Sequence[float]) -> list[str]:
    lines = [
        "| calls/s | mode | clean | setup p50 / p99 ms | INVITE→operator ringing p50 / p99 ms "
        "| Asterisk CPU ms/call | router CPU ms/call | router RSS MB | decided over AGI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        for mode, result in bench.ramp.items():
            one = result.runs.get(rate)
            if one is None:
                continue
            decided = "—" if one.agi_decisions is None else f"{one.agi_decisions}/{one.offered}"
            lines.append(
                f"| {rate:g} | {LABELS[mode]} | {'yes' if result.clean(rate) else '**no**'} "
                f"| {_pair(one.setup_ms)} | {_pair(one.ring_ms)} "
                f"| {_fmt(one.asterisk_cpu_ms_per_call)} | {_fmt(one.router_cpu_ms_per_call)} "
                f"| {_fmt(one.router_rss_mb)} | {decided} |"
            )
    return lines


def _ratios(bench: AgiBench, common: float) -> list[str]:
    """AGI mode against app_queue at ``common`` calls/s, or at the highest rate where both
    were clean when AGI mode was not clean there (a run half served by the dialplan's
    fallback measures the fallback)."""
    queue, agi = bench.ramp["queue"], bench.ramp["agi"]
    both = [r for r in agi.runs if agi.clean(r) and queue.clean(r)]
    rate = common if common in both or not both else max(both)
    lines = [
        f"- highest clean rate: AGI mode {_fmt(agi.best_rate)}, app_queue "
        f"{_fmt(queue.best_rate)} calls/s ({_ratio(agi.best_rate, queue.best_rate)})"
    ]
    if "router" in bench.ramp:
        ari = bench.ramp["router"]
        lines.append(
            f"- control, ARI mode (clinic-router) in the same ramp: highest clean rate "
            f"{_fmt(ari.best_rate)} calls/s"
            + (f" (failed at {ari.stopped_at:g})" if ari.stopped_at else "")
        )
    a, q = agi.runs.get(rate), queue.runs.get(rate)
    if a is None or q is None:
        return [*lines, f"- no run of both modes at {rate:g} calls/s"]
    ast_a, ast_q = a.asterisk_cpu_ms_per_call, q.asterisk_cpu_ms_per_call
    total = (ast_a or 0) + (a.router_cpu_ms_per_call or 0)
    where = "" if rate == common else " (the highest rate where both were clean)"
    lines.append(
        f"- at {rate:g} calls/s{where}: Asterisk CPU per call {_ratio(ast_a, ast_q)} "
        f"({_fmt(ast_a)} vs {_fmt(ast_q)} ms); Asterisk + router {_ratio(total, ast_q)} "
        f"({total:.1f} vs {_fmt(ast_q)} ms)"
    )
    added = [_minus(a.ring_ms[p], q.ring_ms[p]) for p in ("p50", "p99")]
    lines.append(
        f"- at {rate:g} calls/s: INVITE→operator ringing {added[0]} ms at p50, {added[1]} ms "
        "at p99 (AGI mode minus app_queue: the answer, the FastAGI round trip, the decision)"
    )
    return lines


def _minus(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a - b:+.1f}"


def _kind_rows(bench: AgiBench) -> list[str]:
    lines = [
        "| call | offered | failed / lost | INVITE→operator ringing p50 / p99 ms "
        "| setup p50 / p99 ms | decided over AGI | menu answered by a key "
        "| Asterisk CPU ms/call | router CPU ms/call |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, one in bench.kinds.items():
        if isinstance(one, str):
            lines.append(f"| {label} | {one} | | | | | | | |")
            continue
        decided = "—"
        if one.agi_decisions is not None:
            targets = ", ".join(f"{k} {v}" for k, v in sorted(one.agi_targets.items()))
            decided = f"{one.agi_decisions}/{one.offered} ({targets})"
        lines.append(
            f"| {label} | {one.offered} | {one.failed} / {_fmt(one.lost)} "
            f"| {_pair(one.ring_ms)} | {_pair(one.setup_ms)} | {decided} "
            f"| {_fmt(one.menu_keys)} | {_fmt(one.asterisk_cpu_ms_per_call)} "
            f"| {_fmt(one.router_cpu_ms_per_call)} |"
        )
    return lines


def markdown(
    bench: AgiBench,
    rates: Sequence[float] = RATES,
    seconds: float = SECONDS,
    known_rate: float = KNOWN_RATE,
    known_seconds: float = KNOWN_SECONDS,
) -> list[str]:
    """The section of docs/benchmarks.md."""
    common = COMMON_RATE if COMMON_RATE in rates else max(rates)
    return [
        "## AGI mode against app_queue",
        "",
        "`python -m sip_test_harness.bench_agi_e2e`: the benchmark's call (answered at once "
        "by one of 200 load operators, the caller hangs up 1 s after the answer, sending "
        f"speech from the answer on) for {seconds:g} s per run at rising rates, interleaved: "
        "plain `app_queue` (`Queue()` on a static queue, no router), AGI mode (the "
        "shipped `clinic-router-agi.conf`: `Answer()`, FastAGI to the router, `Queue()` on "
        "the generated queue it names; the router follows every call over AMI into its "
        "journeys and ledger) and, as a control, ARI mode. A mode leaves the ramp at its "
        "first run with a failed or lost call, a leftover channel or bridge, or (AGI mode) "
        "a call whose journey has no router decision (the dialplan's timeout fallback). "
        "Setup = INVITE → 200 OK (AGI and ARI mode answer before deciding; `app_queue` "
        "answers when the operator does): compare the ringing column. CPU per call = "
        "process CPU over the run / calls offered.",
        "",
        f"Load average (1/5/15 min) at the start: {bench.load[0]}; at the end: "
        f"{bench.load[-1] if len(bench.load) > 1 else '—'}.",
        "",
        *_ramp_rows(bench, rates),
        "",
        "Ratios at the same run:",
        "",
        *_ratios(bench, common),
        "",
        f"Known and menu callers, {known_rate:g} calls/s for {known_seconds:g} s each, "
        "interleaved: a known caller with an assigned manager (the router decides at once, "
        "no menu; `Dial()` to the manager) and an unknown caller who hears the menu over "
        "AGI (`beep`, `STREAM FILE` with the keys as escape digits) and presses 1, sent "
        "as an RFC 2833 telephone-event (SIPp's DTMF pcap) 0.5 s after the answer:",
        "",
        *_kind_rows(bench),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sip_test_harness.bench_agi_e2e")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--known-rate", type=float, default=KNOWN_RATE)
    parser.add_argument("--known-seconds", type=float, default=KNOWN_SECONDS)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    bench = run(rates, args.seconds, args.known_rate, args.known_seconds)
    print("\n".join(markdown(bench, rates, args.seconds, args.known_rate, args.known_seconds)))


if __name__ == "__main__":
    main()
