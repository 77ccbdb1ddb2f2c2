"""Operators' state seconds cut into 15-minute intervals, for the interval rollups
(`report_state_intervals`; the storage: `router/storage/report_state_rollup.py`).

An interval's sums are those the raw state sums (`report_ledger_sql`) give for that
interval alone: each change is a span to the operator's next one (in the order of `at`,
then `id`; the last still open), clipped to the interval, and the changes counted are the
interval's own and the operator's latest before its start (every change at that instant),
each key present even with zero. A period's raw sums are then the sums of its parts':
a span counts where it overlaps, and a key of a part is a key of the whole (a latest
change before a part's start is the period's own change or its latest before it).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter

from router.domain.reports.intervals import INTERVAL_S

INTERVAL_US = INTERVAL_S * 1_000_000
Change = tuple[str, str, str | None, int, int]  # operator, state, reason, id, at (µs)
StateKey = tuple[int, str, str, str | None]  # interval start (µs), operator, state, reason


def interval_state_sums(changes: Iterable[Change], low: int, high: int) -> dict[StateKey, int]:
    """Microseconds per interval of `[low, high)` (on the grid), operator, state and
    reason, from the changes of `[low, high)` and each operator's latest before `low`."""
    out: dict[StateKey, int] = {}
    for op, rows in groupby(sorted(changes, key=itemgetter(0, 4, 3)), key=itemgetter(0)):
        ordered = list(rows)
        ats = [r[4] for r in ordered]
        ends: list[int | None] = [*ats[1:], None]
        # where each run of changes at one instant begins (the latest before a start is
        # every change at that instant)
        first_at = [0] * len(ordered)
        for i in range(1, len(ordered)):
            first_at[i] = first_at[i - 1] if ats[i] == ats[i - 1] else i
        j = 0  # the first change at or after the interval's start
        for start in range(low, high, INTERVAL_US):
            end = start + INTERVAL_US
            while j < len(ordered) and ats[j] < start:
                j += 1
            first = first_at[j - 1] if j else j
            i = first
            while i < len(ordered) and ats[i] < end:
                _, state, reason, _, at = ordered[i]
                following = ends[i]
                stop = end if following is None else min(following, end)
                key = (start, op, state, reason)
                out[key] = out.get(key, 0) + max(0, stop - max(at, start))
                i += 1
    return out
