"""Reports from the journeys and the callback ledger (pure: plain values in and out).

`build_report` gives every figure of a period; `compare` sets two periods side by side;
`export` renders them as the CLI's table, CSV and JSON.
"""

from router.domain.reports.calls import CALL_GROUPS, DEFAULT_SL_TARGET_S, CallFigures, CallGroup
from router.domain.reports.records import (
    FACT_EVENTS,
    CallRecord,
    JourneyFacts,
    MissRecord,
    RingRecord,
    StateSpan,
    TaskRecord,
    journey_facts,
)
from router.domain.reports.report import Change, Report, ReportData, build_report, compare

__all__ = [
    "CALL_GROUPS",
    "DEFAULT_SL_TARGET_S",
    "FACT_EVENTS",
    "CallFigures",
    "CallGroup",
    "CallRecord",
    "Change",
    "JourneyFacts",
    "MissRecord",
    "Report",
    "ReportData",
    "RingRecord",
    "StateSpan",
    "TaskRecord",
    "build_report",
    "compare",
    "journey_facts",
]
