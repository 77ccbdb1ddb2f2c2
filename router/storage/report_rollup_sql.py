"""Interval rollups (`report_intervals`, `report_operator_intervals`): the calls of each
settled 15-minute UTC interval summed once, so a long period's report reads its settled
intervals' rows and only its edges raw. What a row holds and how the figures are made of
rows: `router.domain.reports.intervals`.

Settled: the interval ended `SETTLE_MARGIN` ago and no call started in it is still open
(no `ended_at`). A write to a call of a built interval (a late journal batch, the
reconcile closing a call after a restart) deletes the interval's mark in the same
transaction (`mark_stale`): it is read raw until built again. Marks, not rows, say what
is built, so an interval without calls is built too and a build is one transaction per
chunk: a report never sees half of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import (
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from router.domain.reports.intervals import (
    INTERVAL_US,
    CallRow,
    OperatorRow,
    render,
    runs_of,
)
from router.storage.db import Database
from router.storage.report_facts_sql import FACTS, epoch_us, facts, instant_us
from router.storage.report_rollup_spans import write_spans
from router.storage.report_sql import measures, sums_stmt, zone_segments
from router.storage.report_state_rollup import duty_of, interval_state_rows
from router.storage.tables import (
    calls,
    operator_states,
    report_intervals,
    report_operator_intervals,
    report_rollups,
    report_state_intervals,
    ring_attempts,
)

SETTLE_MARGIN = timedelta(minutes=5)  # past the journal's batching of a call's last writes
_c, _r = calls.c, ring_attempts.c
HISTS = ("waits", "speeds_up", "route_known", "route_unknown")
KEYS = ("interval_us", "line", "queue")


def interval_of(start_us: Any) -> Any:
    return start_us - start_us % INTERVAL_US


def floor_interval_us(us: int) -> int:
    return us - us % INTERVAL_US


def zone_fits(tz: tzinfo, start: datetime, end: datetime, grid_us: int = INTERVAL_US) -> bool:
    """Every offset of the zone over the period is a multiple of `grid_us` (15 minutes,
    or an hour) and every change of it falls on that grid, so a local hour or day is a
    union of whole intervals (or UTC hours)."""
    segments = zone_segments(tz, start, end)
    if any(offset * 1_000_000 % grid_us for _, offset, _ in segments):
        return False
    for at, _, _ in segments[1:]:
        us = instant_us(at)
        grid = _from_us(us - us % grid_us)
        if _offset(tz, grid) != _offset(tz, at) or _offset(tz, grid - _US) == _offset(tz, at):
            return False
    return True


def _offset(tz: tzinfo, at: datetime) -> timedelta | None:
    return at.astimezone(tz).utcoffset()


_US = timedelta(microseconds=1)


async def mark_stale(conn: AsyncConnection, dialect: str, call_ids: Iterable[str]) -> None:
    """Unmark the built intervals of these calls (written to just now)."""
    ids = list(set(call_ids))
    if not ids:
        return
    await lock_shared(conn, dialect)
    of_calls = select(interval_of(epoch_us(dialect, _c.started_at))).where(_c.id.in_(ids))
    await conn.execute(delete(report_rollups).where(report_rollups.c.interval_us.in_(of_calls)))


async def late_states(
    conn: AsyncConnection, dialect: str, states: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Of these state changes about to be written (`operator_states` rows), those new to
    the history at or before the latest interval built: the ones `mark_states_stale`
    must unmark for once written. Taken before the write: a change saved again (the
    board saves a state on every change of its counters, with the time the state began)
    is already there and changes nothing. Changes at about now, after every interval
    built, cost one index seek (the latest mark)."""
    if not states:
        return []
    await lock_shared(conn, dialect)
    k = report_rollups.c.interval_us
    # no build is under way now (the lock; on SQLite this transaction's write lock): the
    # latest interval built stays the latest until this transaction ends
    latest = (await conn.execute(select(func.max(k)))).scalar()
    if latest is None:
        return []
    old = [r for r in states if floor_interval_us(instant_us(r["at"])) <= latest]
    if not old:
        return []
    s = operator_states.c
    each = (
        and_(s.operator_id == r["operator_id"], s.at == r["at"], s.state == r["state"]) for r in old
    )
    found = select(s.operator_id, s.at, s.state).where(or_(*each))
    there = {tuple(r) for r in (await conn.execute(found)).all()}
    return [r for r in old if (r["operator_id"], r["at"], r["state"]) not in there]


async def mark_states_stale(
    conn: AsyncConnection, dialect: str, states: Sequence[Mapping[str, Any]]
) -> None:
    """Unmark the built intervals these state changes (`late_states`, written just now)
    change: a change at t changes the spans from t to the operator's next change after t
    (or all later ones, if none). Per operator, from its earliest change to the next one
    after its latest (the changes between are its own): two statements."""
    if not states:
        return
    span: dict[str, tuple[datetime, datetime]] = {}
    for row in states:
        op, at = str(row["operator_id"]), row["at"]
        first, last = span.get(op, (at, at))
        span[op] = (min(first, at), max(last, at))
    s, k = operator_states.c, report_rollups.c.interval_us
    following = select(
        *(
            select(func.min(s.at)).where(s.operator_id == op, s.at > last).scalar_subquery()
            for op, (_, last) in span.items()
        )
    )
    nexts = (await conn.execute(following)).one()
    # (constant bounds: an index range each; bounds read in the DELETE scanned every mark)
    terms = [
        and_(
            k >= floor_interval_us(instant_us(first)),
            k <= (_NEVER if nxt is None else instant_us(nxt)),
        )
        for (first, _), nxt in zip(span.values(), nexts, strict=True)
    ]
    await conn.execute(delete(report_rollups).where(or_(*terms)))


_NEVER = 2**62  # no next change: every later interval


Built = Literal["calls", "states", "all"]


async def built_in(
    conn: AsyncConnection, start_us: int, end_us: int, of: Built = "calls"
) -> list[int]:
    """The built intervals within `[start_us, end_us)`: every one for the calls' and
    rings' rows (`of="calls"`), those built with their state seconds (`"states"`: from
    migration 0014 on, `duty_us` set), or with every row this version writes (`"all"`:
    also their hours' and days' rows, from 0015 on). The builders build the others again
    (not those past the calls' retention: their calls' sums, all there is, stay read)."""
    m = report_rollups.c
    k = m.interval_us
    stmt = select(k).where(k >= start_us, k + INTERVAL_US <= end_us)
    if of != "calls":
        stmt = stmt.where(m.duty_us.is_not(None))
    if of == "all":
        stmt = stmt.where(m.spans)
    return list((await conn.execute(stmt.order_by(k))).scalars())


def raw_ranges(
    start: datetime, end: datetime, built: Sequence[int]
) -> list[tuple[datetime, datetime]]:
    """The parts of the period not covered by built intervals."""
    out, at = [], start
    for k in built:
        begin = _from_us(k)
        if begin > at:
            out.append((at, begin))
        at = max(at, _from_us(k + INTERVAL_US))
    if at < end:
        out.append((at, end))
    return out


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


# --- rows of the calls in FACTS (the builder's and a report's raw edges) ---


async def call_rows_of_facts(conn: AsyncConnection, dialect: str) -> list[CallRow]:
    """`FACTS`'s calls summed per interval, line and queue, with their histograms."""
    far = datetime(1970, 1, 1, tzinfo=UTC)
    m = measures(dialect, far, far, UTC, None, {}, 0.0, None)
    interval = interval_of(m.c.start_us).label("interval_us")
    keys = (interval, m.c.line, m.c.queue)
    rows: dict[tuple[int, Any, Any], CallRow] = {}
    for r in (await conn.execute(sums_stmt(m, keys))).all():
        rows[(r.interval_us, r.line, r.queue)] = CallRow(
            r.interval_us, r.line, r.queue, calls=r.calls, answered=r.answered,
            ab_menu=r.ab_menu, ab_waiting=r.ab_waiting, ab_ringing=r.ab_ringing,
            no_operator=r.no_operator, callback_promised=r.callback_promised,
            message=r.message, failed=r.failed, fallback=r.fallback, waited=r.waited,
            speeds=r.speeds, speed_us=int(r.speed_us or 0), talks=r.talks,
            talk_us=int(r.talk_us or 0), wait_us=int(r.wait_us or 0),
            wait_max_us=r.wait_max_us, first_us=r.first_us,
        )  # fmt: skip
    answered_wait = and_(m.c.wait_us.is_not(None), m.c.speed_us.is_not(None))
    route = m.c.route_us.is_not(None)
    parts = (
        ("waits", m.c.wait_us // 1_000_000, m.c.wait_us.is_not(None)),
        ("speeds_up", (m.c.speed_us + 999_999) // 1_000_000, answered_wait),
        ("route_known", m.c.route_us // 1_000_000, and_(route, m.c.known)),
        ("route_unknown", m.c.route_us // 1_000_000, and_(route, ~m.c.known)),
    )
    hists = union_all(
        *(
            select(literal(name).label("kind"), *keys, second.label("s"), func.count().label("n"))
            .where(where)
            .group_by(interval, m.c.line, m.c.queue, second)
            for name, second, where in parts
        )
    )
    for r in (await conn.execute(hists)).all():
        getattr(rows[(r.interval_us, r.line, r.queue)], r.kind)[r.s] += r.n
    return list(rows.values())


async def operator_rows(
    conn: AsyncConnection, dialect: str, start: datetime, end: datetime
) -> list[OperatorRow]:
    """Rings per operator and result, and talk per operator, of the calls started in
    `[start, end)`, per interval of the call's start."""
    interval = interval_of(epoch_us(dialect, _c.started_at)).label("interval_us")
    in_period = (_c.started_at >= start, _c.started_at < end)
    answered = and_(_r.result == "answered", _r.duration_ms.is_not(None))
    joined = ring_attempts.join(calls, _c.id == _r.call_id)
    rings = (
        select(
            interval,
            _r.operator_id,
            _r.result,
            func.count().label("n"),
            func.count(case((answered, 1))).label("answers"),
            func.sum(case((answered, _r.duration_ms))).label("answer_ms"),
        )
        .select_from(joined)
        .where(*in_period)
        .group_by(interval, _r.operator_id, _r.result)
    )
    second = _r.duration_ms // 1000
    speeds = (
        select(interval, _r.operator_id, second.label("s"), func.count().label("n"))
        .select_from(joined)
        .where(*in_period, answered)
        .group_by(interval, _r.operator_id, second)
    )
    talk = epoch_us(dialect, _c.ended_at) - epoch_us(dialect, _c.answered_at)
    talks = (
        select(interval, _c.operator_id, func.count().label("n"), func.sum(talk).label("us"))
        .where(*in_period, _c.operator_id.is_not(None))
        .where(_c.answered_at.is_not(None), _c.ended_at.is_not(None))
        .group_by(interval, _c.operator_id)
    )
    rows: dict[tuple[int, str, str | None], OperatorRow] = {}

    def row(k: int, op: str, result: str | None) -> OperatorRow:
        return rows.setdefault((k, op, result), OperatorRow(k, op, result))

    for r in (await conn.execute(rings)).all():
        t = row(r.interval_us, r.operator_id, r.result)
        t.rings, t.answers, t.answer_ms = r.n, r.answers, int(r.answer_ms or 0)
    for r in (await conn.execute(speeds)).all():
        row(r.interval_us, r.operator_id, "answered").answer_s[r.s] += r.n
    for r in (await conn.execute(talks)).all():
        t = row(r.interval_us, r.operator_id, None)
        t.talks, t.talk_us = r.n, int(r.us or 0)
    return list(rows.values())


# --- stored rows ---


def _call_values(row: CallRow) -> dict[str, Any]:
    values = {c.name: getattr(row, c.name) for c in report_intervals.c if c.name not in HISTS}
    values.update({name: render(getattr(row, name)) for name in HISTS})
    return values


def _operator_values(row: OperatorRow) -> dict[str, Any]:
    values = {c.name: getattr(row, c.name) for c in report_operator_intervals.c}
    values["answer_s"] = render(row.answer_s)
    return values


async def fill_facts(
    conn: AsyncConnection, dialect: str, ranges: Sequence[tuple[datetime, datetime]]
) -> None:
    """`FACTS` (created by the caller) holds the calls started in these ranges."""
    await conn.execute(delete(FACTS))
    columns = [c.name for c in FACTS.columns]
    for start, end in ranges:
        await conn.execute(FACTS.insert().from_select(columns, facts(dialect, start, end)))


_LOCK_KEY = 0x7265706F7274  # "report": the rollups' advisory lock on PostgreSQL


async def lock_shared(conn: AsyncConnection, dialect: str) -> None:
    """A writer's share of the rollups' lock, before it reads what to unmark (see
    `_lock`). On SQLite the database's write lock, taken now by a write that changes
    nothing: the driver begins a transaction only at a write, so the journal's reads of
    the latest mark would otherwise each see their own moment, and a build committed by
    another process (`report rollup`) in between could mark an interval without the
    state change written next (found in review)."""
    if dialect == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _LOCK_KEY})
    else:
        await conn.execute(delete(report_rollups).where(false()))


async def _lock(conn: AsyncConnection, dialect: str) -> None:
    """A build reads a chunk's calls and marks its intervals in one transaction; a write
    to one of those calls committed in between would leave a mark on figures without it.
    So writers (`mark_stale`, shared) and a build (exclusive) take one lock until they
    commit: a writer waits for the build and then unmarks, or the build waits and reads
    the write. On SQLite the router's own writers already queue on the database's write
    lock (`Database.begin`); another process's write in between makes the build's
    commit fail (SQLite refuses a write on a stale snapshot), never a wrong mark."""
    if dialect == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


# the built intervals' rows (`report_rollups` marks them built)
_ROWS = (report_intervals, report_operator_intervals, report_state_intervals)


class Rollups:
    """Builds the settled intervals' rows (the router's background task, and
    `clinic-router report rollup`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def first_call(self) -> datetime | None:
        """When the first call stored started (where a build of everything begins)."""
        async with self._db.connect() as conn:
            first: datetime | None = (await conn.execute(select(func.min(_c.started_at)))).scalar()
        return first

    async def build(
        self,
        start: datetime,
        end: datetime,
        now: datetime,
        *,
        rebuild: bool = False,
        chunk: timedelta = timedelta(days=1),
        progress: Callable[[datetime, int], None] | None = None,
    ) -> int:
        """Build the settled intervals of `[start, end)` not built yet (all of them with
        `rebuild`), a chunk per transaction; returns how many were built. The chunks
        with nothing to build are found first in one read, so a pass over a built year
        costs two index reads."""
        d = self._db.dialect_name
        settled = floor_interval_us(instant_us(now - SETTLE_MARGIN))
        stop = min(floor_interval_us(instant_us(end)), settled)
        low = floor_interval_us(instant_us(start))
        if low >= stop:
            return 0
        step = int(chunk.total_seconds()) * 1_000_000
        async with self._db.connect() as conn:
            todo = await self._wanted(conn, d, low, stop, rebuild)
        chunks = sorted({low + (k - low) // step * step for k in todo})
        done = 0
        for at in chunks:
            upto = min(at + step, stop)
            # one transaction a chunk, the temporary table inside it: the connection goes
            # back to the pool without it
            async with self._db.begin() as conn:
                await _lock(conn, d)
                await conn.run_sync(lambda sync: FACTS.create(sync, checkfirst=True))
                done += await self._chunk(conn, d, at, upto, now, rebuild)
                await conn.run_sync(lambda sync: FACTS.drop(sync, checkfirst=True))
            if progress:
                progress(_from_us(upto), done)
        return done

    async def _wanted(
        self, conn: AsyncConnection, d: str, low: int, high: int, rebuild: bool
    ) -> set[int]:
        """The intervals of `[low, high)` to build: not built (or all, `rebuild`) and no
        call started in them still open."""
        wanted = set(range(low, high, INTERVAL_US))
        if not rebuild:
            wanted -= set(await built_in(conn, low, high, "all"))
        if wanted:
            start, end = _from_us(low), _from_us(high)
            open_calls = select(interval_of(epoch_us(d, _c.started_at))).where(
                _c.started_at >= start, _c.started_at < end, _c.ended_at.is_(None)
            )
            wanted -= set((await conn.execute(open_calls)).scalars())
        return wanted

    async def _chunk(
        self, conn: AsyncConnection, d: str, low: int, high: int, now: datetime, rebuild: bool
    ) -> int:
        wanted = await self._wanted(conn, d, low, high, rebuild)  # again, under the lock
        if not wanted:
            return 0
        # Only the wanted intervals' calls: a minute's pass builds the one or two intervals
        # just settled, not the day they lie in, under the write lock.
        ranges = [(_from_us(a), _from_us(b)) for a, b in runs_of(sorted(wanted))]
        await fill_facts(conn, d, ranges)
        call_rows = [r for r in await call_rows_of_facts(conn, d) if r.interval_us in wanted]
        op_rows = [
            r
            for a, b in ranges
            for r in await operator_rows(conn, d, a, b)
            if r.interval_us in wanted
        ]
        state_rows = await interval_state_rows(conn, d, ranges)
        keys = sorted(wanted)
        for table in (*_ROWS, report_rollups):
            await conn.execute(delete(table).where(table.c.interval_us.in_(keys)))
        if state_rows:
            await conn.execute(insert(report_state_intervals), state_rows)
        if call_rows:
            await conn.execute(insert(report_intervals), [_call_values(r) for r in call_rows])
        if op_rows:
            await conn.execute(
                insert(report_operator_intervals), [_operator_values(r) for r in op_rows]
            )
        duty = duty_of(keys, state_rows)
        marks = [
            {"interval_us": k, "built_at": now, "duty_us": duty[k], "spans": True} for k in keys
        ]
        await conn.execute(insert(report_rollups), marks)
        await write_spans(conn, keys)
        return len(keys)
