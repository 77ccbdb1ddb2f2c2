"""Each call of a period with the facts `journey_facts` reads from its journey (its first
wait and what for, its first ring, a ring the caller hung up on, a fallback), taken by
the database for `report_sql`'s sums; and the time conversions the report queries share.

On PostgreSQL the facts come from joins on the period's waits and rings, each grouped
once, not from subqueries run per call: on a year of 1,000,000 calls PostgreSQL ran
those as a million index scans each (106 s of the year's report, `EXPLAIN ANALYZE`);
with the joins it reads the period's events and rings in one pass (21.6 s, merge joins
on the `call_id` indexes), and for a day it still walks those indexes from the day's
calls (0.12 s). SQLite keeps the subqueries (`_facts_per_call`):
they are its fastest plan.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from router.storage.tables import call_events, calls, ring_attempts

_c, _e, _r = calls.c, call_events.c, ring_attempts.c
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_JD = 2_440_587.5  # the Julian day of 1970-01-01 00:00 UTC


def json_text(dialect: str, column: Any, key: str) -> Any:
    """One key of a JSON column as text, read by the database."""
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(column, key)
    return func.json_extract(column, f"$.{key}")


def epoch_us(dialect: str, column: Any) -> ColumnElement[Any]:
    """A timestamp as whole microseconds since the epoch."""
    if dialect == "postgresql":
        # date_part's double, not EXTRACT's numeric: numeric arithmetic made the
        # conversion 2.3 times slower (1.6 million state changes: 5.6 s against 2.4 s).
        # Still exact: up to 2106 a timestamp's seconds are within a quarter of a
        # microsecond of the double nearest them, and the product rounds back to the
        # whole microsecond (checked equal to EXTRACT's on the 6.7 million timestamps of
        # the benchmark's year and on 2 million up to 2106).
        return cast(func.date_part("epoch", column) * 1_000_000, BigInteger)
    # whole seconds from the first 19 characters only: SQLite reads a fraction to the
    # millisecond, rounded, so "...:59.9996" would count as the next second. Its Julian
    # day (a double within 2e-5 s of the second), not strftime('%s'), whose text the
    # cast parses again: 22 % less time a conversion, equal on the benchmark year's
    # 6.7 million timestamps and on a million random ones of 1900-2200.
    days = func.julianday(func.substr(column, 1, 19)) - _UNIX_JD
    seconds = cast(func.round(days * 86_400), Integer)
    return seconds * 1_000_000 + cast(func.substr(column, 21, 6), Integer)


def instant_us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def call_line(dialect: str) -> Any:
    """A call's line. Calls recorded before the line was written on the row have it only
    in their `arrived` event: read from there for those rows alone (COALESCE)."""
    arrived_line = (
        select(json_text(dialect, _e.data, "line"))
        .where(_e.call_id == _c.id, _e.kind == "arrived")
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(_c.line, arrived_line).label("line")


def facts(dialect: str, start: datetime, end: datetime) -> Select[Any]:
    """The rows of `FACTS` for the calls started in `[start, end)`, times in microseconds
    (each read once here: the sums use them many times)."""
    if dialect == "sqlite":
        return _facts_per_call(start, end)
    in_period = (_c.started_at >= start, _c.started_at < end)
    # the first wait by (at, id): its time is the earliest, its queue the one reported
    waits = (
        select(
            _e.call_id,
            epoch_us(dialect, _e.at).label("at_us"),
            json_text(dialect, _e.data, "for").label("queue"),
            func.row_number().over(partition_by=_e.call_id, order_by=(_e.at, _e.id)).label("n"),
        )
        .join(calls, _c.id == _e.call_id)
        .where(*in_period, _e.kind == "waiting")
        .subquery("waits")
    )
    rings = (
        select(
            _r.call_id,
            func.min(epoch_us(dialect, _r.started_at)).label("first_us"),
            func.count(case((_r.result == "cancelled", 1))).label("cancelled"),
        )
        .join(calls, _c.id == _r.call_id)
        .where(*in_period)
        .group_by(_r.call_id)
        .subquery("rings")
    )
    first_wait = and_(waits.c.call_id == _c.id, waits.c.n == 1)
    return (
        select(
            *_call_columns(dialect),
            waits.c.at_us.label("waiting_us"),
            waits.c.queue,
            rings.c.first_us.label("ring_us"),
            (func.coalesce(rings.c.cancelled, 0) > 0).label("cancelled"),
            _fallback(),
        )
        .select_from(calls.outerjoin(waits, first_wait).outerjoin(rings, rings.c.call_id == _c.id))
        .where(*in_period)
    )


def _facts_per_call(start: datetime, end: datetime) -> Select[Any]:
    """`facts` on SQLite: a subquery per fact and call, each one index search (SQLite ran
    the joins of `facts` slower, materialising them first: the month's facts 2.05 CPU s
    against 1.29). Each time is
    converted inside its subquery: `epoch_us` reads its argument twice, and SQLite ran a
    subquery given to it twice (8 searches a call, not 6: 45 % of the facts' time)."""
    d = "sqlite"
    waiting = (_e.call_id == _c.id, _e.kind == "waiting")
    first_wait = select(func.min(epoch_us(d, _e.at))).where(*waiting).scalar_subquery()
    queue = select(json_text(d, _e.data, "for")).where(*waiting).order_by(_e.at, _e.id).limit(1)
    first_ring = (
        select(func.min(epoch_us(d, _r.started_at))).where(_r.call_id == _c.id).scalar_subquery()
    )
    return select(
        *_call_columns(d),
        first_wait.label("waiting_us"),
        queue.scalar_subquery().label("queue"),
        first_ring.label("ring_us"),
        exists().where(_r.call_id == _c.id, _r.result == "cancelled").label("cancelled"),
        _fallback(),
    ).where(_c.started_at >= start, _c.started_at < end)


def _call_columns(dialect: str) -> tuple[Any, ...]:
    """What `FACTS` takes from the call's own row."""
    return (
        _c.id,
        call_line(dialect),
        epoch_us(dialect, _c.started_at).label("start_us"),
        epoch_us(dialect, _c.answered_at).label("answered_us"),
        epoch_us(dialect, _c.ended_at).label("ended_us"),
        _c.outcome,
        _c.patient_id.is_not(None).label("known"),
    )


def _fallback() -> Any:
    return exists().where(_e.call_id == _c.id, _e.kind == "fallback").label("fallback")


# Each call's facts, computed once per report: the sums read them several times (total,
# groups, each percentile). Private to the connection (TEMPORARY), dropped after the
# report.
FACTS = Table(
    "report_facts",
    MetaData(),
    Column("id", Text),
    Column("line", Text),
    Column("start_us", BigInteger),
    Column("answered_us", BigInteger),
    Column("ended_us", BigInteger),
    Column("outcome", Text),
    Column("known", Boolean),
    Column("waiting_us", BigInteger),
    Column("queue", Text),
    Column("ring_us", BigInteger),
    Column("cancelled", Boolean),
    Column("fallback", Boolean),
    prefixes=["TEMPORARY"],
)
