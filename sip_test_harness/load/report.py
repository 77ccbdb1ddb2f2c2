"""The report of a load run: the figures with stable JSON keys, and a table for people."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sip_test_harness.load.stats import CallerCall, percentiles

SERVICE_LEVEL_S = 20.0
JSON_KEYS = (
    "mode",
    "offered",
    "answered",
    "abandoned",
    "failed",
    "lost",
    "missing_tasks",
    "cps",
    "setup_ms",
    "ring_ms",
    "service_level_20s",
    "router_cpu_ms_per_call",
    "router_rss_mb",
    "router_rss_mb_min",
    "router_rss_mb_max",
    "asterisk_cpu_ms_per_call",
    "app_cpu_ms_per_call",
    "leftover_channels",
    "leftover_bridges",
    "router_outcomes",
    "agi_decisions",
    "agi_targets",
    "menu_keys",
    "streams",
    "duration_s",
)


@dataclass
class LoadReport:
    """Figures of one run. ``lost`` is None when the router's journeys were not read."""

    mode: str
    offered: int
    answered: int
    abandoned: int
    failed: int
    lost: int | None
    cps: float
    setup_ms: dict[str, float | None]
    ring_ms: dict[str, float | None]
    service_level_20s: float | None
    missing_tasks: int | None = None  # of `lost`: misses the policy made a task of, not stored
    router_cpu_ms_per_call: float | None = None
    router_rss_mb: float | None = None  # at the end of the run
    router_rss_mb_min: float | None = None  # over the run (sampled with the progress lines)
    router_rss_mb_max: float | None = None
    asterisk_cpu_ms_per_call: float | None = None
    app_cpu_ms_per_call: float | None = None  # the minimal ARI app in the benchmark
    leftover_channels: int | None = None
    leftover_bridges: int | None = None
    router_outcomes: dict[str, int] = field(default_factory=dict)
    agi_decisions: int | None = None  # AGI mode: journeys with the router's decision
    menu_keys: int | None = None  # AGI mode: journeys whose menu took a pressed key
    agi_targets: dict[str, int] = field(default_factory=dict)  # AGI decisions by target
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps({key: data[key] for key in JSON_KEYS}, indent=2, ensure_ascii=False)

    def _lost(self) -> str:
        if self.missing_tasks is None:
            return _text(self.lost)
        return f"{self.lost} ({self.missing_tasks} misses without a task)"

    def _rss(self) -> str:
        text = _text(self.router_rss_mb)
        if self.router_rss_mb_min is not None:
            text += f" ({self.router_rss_mb_min}-{self.router_rss_mb_max})"
        return text

    def table(self) -> str:
        rows = [
            ("mode", self.mode),
            ("offered", self.offered),
            ("answered by an operator", self.answered),
            ("abandoned", self.abandoned),
            ("failed (SIP)", self.failed),
            ("lost (no outcome, or a miss without its task)", self._lost()),
            ("achieved calls/s", self.cps),
            ("setup ms p50/p90/p99", _pct(self.setup_ms)),
            ("INVITE->operator ringing ms p50/p90/p99", _pct(self.ring_ms)),
            ("service level (answered <= 20 s)", _text(self.service_level_20s)),
            ("router CPU ms/call", _text(self.router_cpu_ms_per_call)),
            ("router RSS MB end (min-max)", self._rss()),
            ("Asterisk CPU ms/call", _text(self.asterisk_cpu_ms_per_call)),
            ("leftover channels / bridges", f"{self.leftover_channels} / {self.leftover_bridges}"),
            ("router outcomes", ", ".join(f"{k} {v}" for k, v in self.router_outcomes.items())),
            ("run time s", self.duration_s),
        ]
        if self.app_cpu_ms_per_call is not None:
            rows.insert(11, ("ARI app CPU ms/call", self.app_cpu_ms_per_call))
        if self.agi_decisions is not None:
            targets = ", ".join(f"{k} {v}" for k, v in self.agi_targets.items())
            rows.insert(-1, ("decided by the router over AGI", f"{self.agi_decisions} ({targets})"))
            rows.insert(-1, ("menus answered with a key", _text(self.menu_keys)))
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines.append("per stream (offered/answered/abandoned/failed):")
        for name, counts in self.streams.items():
            lines.append(
                f"  {name:<12} {counts['offered']}/{counts['answered']}/"
                f"{counts['abandoned']}/{counts['failed']}"
            )
        return "\n".join(lines)


def _text(value: object) -> str:
    return "n/a" if value is None else str(value)


def _pct(values: Mapping[str, float | None]) -> str:
    return " / ".join(_text(values.get(k)) for k in ("p50", "p90", "p99"))


def summarise(
    mode: str,
    calls: Sequence[CallerCall],
    planned: Mapping[str, int],
    abandon_streams: set[str],
    operator_answers: int,
) -> LoadReport:
    """Count outcomes from the SIPp side; planned calls that never started count as failed.

    ``operator_answers`` counts answers of calls whose caller cannot be correlated
    (anonymous): they are added to ``answered``.
    """
    per_stream: dict[str, Counter[str]] = {name: Counter() for name in planned}
    for call in calls:
        if call.failed(call.stream in abandon_streams):
            kind = "failed"
        elif call.operator_answer_at is not None:
            kind = "answered"
        else:
            kind = "abandoned"
        per_stream[call.stream][kind] += 1
    for name, count in planned.items():
        seen = sum(1 for c in calls if c.stream == name)
        per_stream[name]["failed"] += max(0, count - seen)
    streams = {
        name: {
            "offered": planned[name],
            "answered": c["answered"],
            "abandoned": c["abandoned"],
            "failed": c["failed"],
        }
        for name, c in per_stream.items()
    }
    starts = [c.invite_at for c in calls if c.invite_at is not None]
    span = (max(starts) - min(starts)) if len(starts) > 1 else 0.0
    offered = sum(planned.values())
    answered = sum(s["answered"] for s in streams.values()) + operator_answers
    abandoned = max(0, sum(s["abandoned"] for s in streams.values()) - operator_answers)
    in_time = sum(
        1
        for c in calls
        if c.operator_answer_at is not None
        and c.invite_at is not None
        and c.operator_answer_at - c.invite_at <= SERVICE_LEVEL_S
    )
    return LoadReport(
        mode=mode,
        offered=offered,
        answered=answered,
        abandoned=abandoned,
        failed=sum(s["failed"] for s in streams.values()),
        lost=None,
        cps=round((len(starts) - 1) / span, 2) if span > 0 else 0.0,
        setup_ms=percentiles(c.setup_ms for c in calls),
        ring_ms=percentiles(c.ring_ms for c in calls),
        service_level_20s=round((in_time + operator_answers) / offered, 3) if offered else None,
        streams=streams,
    )


def from_json(text: str) -> dict[str, Any]:
    """Parse a report's JSON (for tests and the benchmark)."""
    data: dict[str, Any] = json.loads(text)
    return data
