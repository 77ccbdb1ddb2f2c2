"""The report's sections as rows: one shape for the CLI's table, CSV and the API's
JSON, so a figure has the same name everywhere."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any, Literal

from router.domain.reports.operators import OperatorFigures
from router.domain.reports.report import Change, Report, calls_json
from router.domain.reports.staffing import StaffingRow

Section = Literal["calls", "operators", "misses", "compare"]
SECTIONS: tuple[Section, ...] = ("calls", "operators", "misses", "compare")
Row = dict[str, Any]


def section_rows(report: Report, section: Section, changes: Sequence[Change] = ()) -> list[Row]:
    """Flat rows (scalar values only) of one section."""
    if section == "calls":
        return [calls_json(g) for g in report.groups] + [calls_json(report.total)]
    if section == "operators":
        return [_flat(asdict(o)) for o in report.operators]
    if section == "misses":
        return [{"figure": k, "value": v} for k, v in _flat(asdict(report.misses)).items()]
    return [asdict(c) for c in changes]


def _flat(values: Mapping[str, Any]) -> Row:
    """`{"paused_s": {"lunch": 60}}` -> `{"paused_s.lunch": 60}`: CSV cells hold scalars."""
    out: Row = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def columns(rows: Iterable[Row]) -> list[str]:
    """Every key in first-seen order (operators differ in pause reasons)."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# The columns of the sections that may have no rows (no operator rang, no hour with a
# call): an empty CSV still names them, so a spreadsheet's import keeps its columns.
EMPTY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "operators": tuple(f.name for f in fields(OperatorFigures)),
    "compare": tuple(f.name for f in fields(Change)),
    "staffing": tuple(f.name for f in fields(StaffingRow)),
}


def to_csv(rows: Sequence[Row], section: str | None = None) -> str:
    """The rows as CSV with a header; no rows: the header of `section` alone."""
    buffer = io.StringIO()
    names = columns(rows) or list(EMPTY_COLUMNS.get(section or "", ()))
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_table(rows: Sequence[Row]) -> str:
    """Columns padded to their widest cell; a share as a percentage, None as '-'."""
    names = columns(rows)
    cells = [[_cell(_label(name, row), row.get(name)) for name in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


# Columns whose rows each hold one figure, named in the row's "figure" (misses, compare,
# replay): a share among them is shown as a share.
_BY_FIGURE = frozenset(
    {"value", "current", "previous", "as_happened", "replayed_current", "replayed_new"}
)


def _label(name: str, row: Row) -> str:
    return str(row.get("figure", name)) if name in _BY_FIGURE else name


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and (name.endswith(("share", "level", "rate")) or name == "change"):
        return f"{value:.1%}"
    return str(value)
