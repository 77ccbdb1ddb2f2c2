"""The reports page's tables: the rows of `router.domain.reports.export.section_rows` (the
CLI's and the API's rows) with their columns grouped and each cell in a person's units.

Pure: no aiohttp. A column this module does not know still shows, under "other", so a
figure added to the rows is never missing from the page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from router.domain.reports.export import Row, columns

NONE = "—"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the row's key, as in the CLI's and the CSV's header
    label: str
    group: str  # the heading above it ("" : none)


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]  # formatted cells, in the columns' order

    @property
    def groups(self) -> list[tuple[str, int]]:
        """The headings above the columns with how many columns each spans."""
        out: list[tuple[str, int]] = []
        for c in self.columns:
            if out and out[-1][0] == c.group:
                out[-1] = (c.group, out[-1][1] + 1)
            else:
                out.append((c.group, 1))
        return out


@dataclass(frozen=True, slots=True)
class Figure:
    key: str  # the misses' row's "figure"
    label: str
    value: str


# (group, ((key, label), ...)); a key ending in "." takes every "key.<name>" column.
_Layout = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

CALLS: _Layout = (
    ("Calls", (("offered", "offered"), ("answered", "answered"), ("waited", "waited"))),
    (
        "Abandoned",
        (
            ("abandoned", "all"),
            ("abandoned_in_menu", "in menu"),
            ("abandoned_waiting", "waiting"),
            ("abandoned_ringing", "ringing"),
        ),
    ),
    (
        "Other outcomes",
        (
            ("no_operator", "no operator"),
            ("callback_promised", "callback promised"),
            ("message", "message"),
            ("failed", "failed"),
            ("fallback", "fallback-served"),
        ),
    ),
    ("Speed of answer", (("service_level", "service level"), ("asa_s", "ASA"))),
    ("Wait", (("wait_p50_s", "p50"), ("wait_p90_s", "p90"), ("wait_max_s", "max"))),
    ("Talk", (("talk_avg_s", "average"), ("talk_total_s", "total"))),
    ("Route length (median)", (("route_known_s", "known callers"), ("route_unknown_s", "unknown"))),
)
OPERATORS: _Layout = (
    (
        "Rings",
        (
            ("rings", "offered"),
            ("answered", "answered"),
            ("rang_out", "rang out"),
            ("rejected", "rejected"),
            ("unavailable", "unavailable"),
            ("caller_left", "caller left"),
        ),
    ),
    (
        "Answer",
        (("answer_rate", "rate"), ("answer_p50_s", "time p50"), ("answer_avg_s", "average")),
    ),
    ("Talk", (("talk_avg_s", "average"), ("talk_total_s", "total"))),
    ("Wrap-up", (("wrap_up_s", "total"),)),
    ("Paused", (("paused_s", "total"), ("paused_s.", ""))),
    ("Callbacks", (("callbacks_worked", "worked"),)),
)
MISSES: _Layout = (
    (
        "Misses",
        (
            ("misses", "misses"),
            ("by_source.", "source: "),
            ("by_reason.", "reason: "),
            ("anonymous", "withheld number"),
            ("without_task", "no task made"),
        ),
    ),
    (
        "Callback tasks",
        (
            ("tasks_created", "created"),
            ("merged", "misses merged into an open task"),
            ("reached", "reached"),
            ("called_back", "reached by a callback"),
            ("called_in", "reached when they called in"),
            ("unreachable", "unreachable"),
            ("closed_other.", "closed: "),
            ("worked_share", "worked to an outcome"),
        ),
    ),
    (
        "Timing",
        (
            ("first_attempt_p50_s", "miss to first attempt, p50"),
            ("reached_p50_s", "miss to reached, p50"),
            ("reached_p90_s", "miss to reached, p90"),
            ("attempts_per_success", "attempts per callback reached"),
        ),
    ),
    ("Now", (("open_now", "open"), ("overdue_now", "overdue"))),
)
OTHER = "other"


def table(rows: Sequence[Row], layout: _Layout, first: Column) -> Table:
    """`rows` (one kind: calls or operators) as a table: `first`, then `layout`'s columns
    that the rows have, then any other column of theirs."""
    cols = [first, *_placed(columns(rows), layout, skip={first.key})]
    cells = tuple(tuple(cell(c.key, row.get(c.key)) for c in cols) for row in rows)
    return Table(tuple(cols), cells)


def figure_groups(rows: Sequence[Row]) -> list[tuple[str, list[Figure]]]:
    """The misses' rows (`{"figure", "value"}`) in `MISSES`' groups."""
    values = {str(r["figure"]): r["value"] for r in rows}
    grouped: dict[str, list[Figure]] = {}
    for c in _placed(list(values), MISSES):
        grouped.setdefault(c.group, []).append(Figure(c.key, c.label, cell(c.key, values[c.key])))
    return list(grouped.items())


def compare_rows(rows: Sequence[Row]) -> list[tuple[str, str, str, str, str]]:
    """(figure, label, current, previous, change) of the compare section's rows."""
    out = []
    for r in rows:
        figure = str(r["figure"])
        section, _, key = figure.partition(".")
        (column,) = _placed([key], CALLS if section == "calls" else MISSES)
        label = key if column.group == OTHER else f"{column.group}: {column.label}"
        out.append(
            (
                figure,
                label,
                cell(key, r["current"]),
                cell(key, r["previous"]),
                change(r["change"]),
            )
        )
    return out


def _placed(keys: Iterable[str], layout: _Layout, skip: Iterable[str] = ()) -> list[Column]:
    """`keys` as columns in `layout`'s order and groups; the rest at the end, "other"."""
    left = [k for k in keys if k not in skip]
    out: list[Column] = []
    for group, fields in layout:
        for key, label in fields:
            if key.endswith("."):
                taken = [k for k in left if k.startswith(key)]
                out += [Column(k, label + k.removeprefix(key), group) for k in taken]
            elif key in left:
                taken = [key]
                out.append(Column(key, label, group))
            else:
                continue
            left = [k for k in left if k not in taken]
    return out + [Column(k, k, OTHER) for k in left]


def cell(key: str, value: Any) -> str:
    """A figure in a person's units: a share as a percentage, seconds as s, min or h."""
    if value is None:
        return NONE
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    name = key.rpartition(".")[0] if key.startswith("paused_s.") else key
    if name.endswith(("share", "level", "rate")):
        return percent(value)
    if name.endswith("_s"):
        return seconds(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def percent(share: float) -> str:
    """One decimal; never "100 %" unless every one (199 of 200 is 99.5 %, 1999 of 2000
    99.9 %), never "0 %" unless none: a manager reads those two as all and nothing."""
    tenths = round(share * 1000)
    if tenths >= 1000 and share < 1:
        tenths = 999
    elif tenths <= 0 < share:
        tenths = 1
    return f"{tenths / 10:.1f} %"


def seconds(value: float) -> str:
    """`12.5 s`; from a minute `4 min 05 s`; from an hour `2 h 03 min`."""
    if value < 60:
        return f"{round(value, 1):g} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def change(value: float | None) -> str:
    """A relative change, signed: `+12.5 %`, `−33.3 %`."""
    if value is None or math.isnan(value):
        return NONE
    sign = "+" if value > 0 else "−" if value < 0 else ""
    return f"{sign}{abs(value) * 100:.1f} %"


# The calls table's groupings (`clinic-router report calls --by`), as the page offers them.
BY_CHOICES: tuple[tuple[str, str], ...] = (
    ("total", "total"),
    ("line", "line"),
    ("branch", "branch"),
    ("queue", "queue"),
    ("day", "day"),
    ("hour", "hour"),
    ("hour_of_week", "hour of the week"),
)
