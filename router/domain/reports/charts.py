"""What the console's report charts plot, from a report and its waits (pure: the page
passes this as JSON to uPlot)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from router.domain.reports.calls import WAIT_EDGES, call_sums
from router.domain.reports.records import CallRecord
from router.domain.reports.report import Report
from router.domain.reports.staffing import StaffingRow


def wait_buckets(calls: Sequence[CallRecord]) -> list[tuple[str, int]]:
    """How many callers waited how long (those who waited), in `WAIT_EDGES` buckets."""
    return labelled_waits(call_sums(calls).wait_buckets)


def labelled_waits(counts: Sequence[int]) -> list[tuple[str, int]]:
    """The buckets' labels with their counts (`CallSums.wait_buckets`)."""
    labels = [f"{a}–{b} s" for a, b in pairwise(WAIT_EDGES)]
    labels.append(f"{WAIT_EDGES[-1]} s+")
    return list(zip(labels, counts, strict=True))


def chart_data(report: Report, waits: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Series for three charts: calls and service level by hour (the report must be grouped
    by hour), the waiting-time distribution (`wait_buckets`, `labelled_waits`), and each
    operator's answer rate."""
    hours = report.groups if report.group == "hour" else ()
    operators = [o for o in report.operators if o.answer_rate is not None]
    return {
        "hours": {
            "labels": [g.key for g in hours],
            "offered": [g.offered for g in hours],
            "answered": [g.answered for g in hours],
            "service_level": [g.service_level for g in hours],
        },
        "waits": {"labels": [w[0] for w in waits], "callers": [w[1] for w in waits]},
        "operators": {
            "labels": [o.operator_id for o in operators],
            "answer_rate": [o.answer_rate for o in operators],
        },
    }


def staffing_series(rows: Sequence[StaffingRow]) -> dict[str, Any]:
    """Operators needed (Erlang C, Erlang A) and on duty, per hour of the week with calls."""
    shown = [r for r in rows if r.calls_per_hour]
    return {
        "labels": [r.key for r in shown],
        "erlang_c": [r.erlang_c_agents for r in shown],
        "erlang_a": [r.erlang_a_agents for r in shown],
        "on_duty": [r.on_duty for r in shown],
    }
