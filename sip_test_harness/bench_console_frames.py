"""The console benchmark's pure parts: what a wallboard frame shows, which frame showed
each Asterisk event, and the figures' table.

An event is timed by Asterisk (the ARI event's own timestamp); a frame by the console
client that received it. Each event has a condition only its own change satisfies
(the probe queue's count, one reserved operator talking), so frames caused by other
changes are skipped, never matched.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EventKind = Literal["join", "hangup", "answer"]
PROBE_QUEUE = "probe"

_TILE = re.compile(
    r'data-queue="' + PROBE_QUEUE + r'">.*?<span data-waiting-count>(\d+)</span>', re.S
)
_ON_CALL = re.compile(r'data-operator="([^"]+)" data-state="on_call"')


@dataclass(frozen=True, slots=True)
class Frame:
    """One board a console received: when, the probe queue's count, who is talking."""

    at: float
    probe_waiting: int
    on_call: frozenset[str]

    def shows(self, event: Event) -> bool:
        if event.kind == "join":
            return self.probe_waiting >= 1
        if event.kind == "hangup":
            return self.probe_waiting == 0
        return event.key in self.on_call


@dataclass(frozen=True, slots=True)
class Event:
    """An Asterisk event: a probe caller entering its holding bridge (join) or hanging
    up, or a reserved operator's phone answering; ``key`` the channel or operator."""

    kind: EventKind
    at: float
    key: str


def parse_board(html: str, at: float, watched: frozenset[str]) -> Frame:
    """The parts of a wallboard frame the benchmark looks at (``watched`` operators)."""
    tile = _TILE.search(html)
    on_call = frozenset(m for m in _ON_CALL.findall(html) if m in watched)
    return Frame(at, int(tile.group(1)) if tile else 0, on_call)


def ari_time(stamp: str) -> float:
    """An ARI event's ``timestamp`` (``2026-12-03T14:55:01.123+0000``) as epoch seconds."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def latencies(events: Iterable[Event], frames: Sequence[Frame]) -> dict[EventKind, list[float]]:
    """Seconds from each event to the first later frame showing it (one console's frames,
    in order of arrival); an event no frame showed is left out (counted by the caller)."""
    found: dict[EventKind, list[float]] = {"join": [], "hangup": [], "answer": []}
    for event in events:
        for frame in frames:
            if frame.at >= event.at and frame.shows(event):
                found[event.kind].append(frame.at - event.at)
                break
    return found


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class WindowResult:
    """One measuring window: `consoles` open streams, the same probes each time."""

    consoles: int
    events: int = 0
    shown: int = 0  # (event, console) pairs a frame showed
    expected: int = 0  # events x consoles
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    frames: int = 0  # frames one console received in the window (the first console)

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.wall_s if self.wall_s else 0.0

    def all_ms(self) -> list[float]:
        return [v for values in self.latency_ms.values() for v in values]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def table(windows: Sequence[WindowResult]) -> list[str]:
    """The figures as a Markdown table; extra CPU against the 0-console window."""
    base = next((w for w in windows if w.consoles == 0), None)
    lines = [
        "| consoles | events | shown | event→page p50 / p99 ms | join p50 | hang-up p50 "
        "| answer p50 | frames | router CPU % | extra CPU % | CPU ms per event |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        every = w.all_ms()
        extra = "—" if base is None else f"{w.cpu_pct - base.cpu_pct:+.1f}"
        per_event = 1000 * w.cpu_s / w.events if w.events else None
        kinds = [
            _ms(statistics.median(w.latency_ms[k]) if w.latency_ms.get(k) else None)
            for k in ("join", "hangup", "answer")
        ]
        lines.append(
            f"| {w.consoles} | {w.events} | {w.shown}/{w.expected} "
            f"| {_ms(percentile(every, 50))} / {_ms(percentile(every, 99))} "
            f"| {' | '.join(kinds)} | {w.frames} | {w.cpu_pct:.1f} | {extra} "
            f"| {_ms(per_event)} |"
        )
    return lines
