"""Reports from hand-computed journeys: every figure below was worked out on paper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.domain.reports import (
    CallRecord,
    JourneyFacts,
    MissRecord,
    ReportData,
    RingRecord,
    StateSpan,
    TaskRecord,
    build_report,
    compare,
    journey_facts,
)
from router.domain.reports.calls import call_figures, calls_by
from router.domain.reports.operators import operators_report

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday, 12:00 in Moscow
DAY = (T0 - timedelta(hours=9), T0 + timedelta(hours=15))


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def call(
    cid: str,
    start: float,
    outcome: str,
    *,
    wait: float | None = None,  # seconds after start the caller began waiting
    ring: float | None = None,
    answer: float | None = None,
    end: float | None = None,
    where: str | None = None,
    known: bool = False,
    queue: str | None = "queue general",
    op: str | None = None,
    fallback: bool = False,
    line: str | None = "main",
) -> CallRecord:
    facts = JourneyFacts(
        queue if wait is not None else None,
        at(start + wait) if wait is not None else None,
        at(start + ring) if ring is not None else None,
        fallback,
        where,  # type: ignore[arg-type]
    )
    return CallRecord(
        cid,
        at(start),
        outcome,
        line=line,
        answered_at=at(start + answer) if answer is not None else None,
        ended_at=at(start + end) if end is not None else None,
        operator_id=op,
        known=known,
        facts=facts,
    )


# Eight calls of one morning. Waits (from the start of waiting to answer or end):
#   c1 answered after 5 s (in target), c2 answered after 30 s, c3 never waited (menu),
#   c4 left after 50 s of waiting, c5 left while op2 rang after 12 s, c6 no operator
#   after 120 s, c7 callback from the menu, c8 handed to the fallback.
CALLS = [
    call("c1", 0, "answered", wait=10, ring=12, answer=15, end=75, known=True, op="op1"),
    call("c2", 60, "answered", wait=20, ring=48, answer=50, end=170, op="op1"),
    call("c3", 120, "abandoned", end=8, where="menu"),
    call("c4", 180, "abandoned", wait=20, end=70, where="waiting"),
    call("c5", 240, "abandoned", wait=2, ring=4, end=14, where="ringing", known=True),
    call("c6", 300, "no_operator", wait=20, end=140),
    call("c7", 360, "callback", end=30),
    call("c8", 420, "failed", end=3, fallback=True),
]


def test_call_figures_by_hand() -> None:
    f = call_figures("total", CALLS)
    assert (f.offered, f.answered, f.abandoned, f.no_operator) == (8, 2, 3, 1)
    assert (f.abandoned_in_menu, f.abandoned_waiting, f.abandoned_ringing) == (1, 1, 1)
    assert (f.callback_promised, f.failed, f.fallback) == (1, 1, 1)
    # Waited: c1 5, c2 30, c4 50, c5 12, c6 120 -> 1 of 5 answered within 20 s.
    assert f.waited == 5
    assert f.service_level == 0.2
    assert f.asa_s == 17.5  # (5 + 30) / 2
    assert f.wait_p50_s == 30.0
    assert f.wait_p90_s == 92.0  # 50 + 0.6 * (120 - 50), interpolated
    assert f.wait_max_s == 120.0
    assert (f.talk_avg_s, f.talk_total_s) == (90.0, 180.0)  # 60 and 120 s
    # Start -> first ring: known c1 12, c5 4 (median 8); unknown c2 48.
    assert (f.route_known_s, f.route_unknown_s) == (8.0, 48.0)


def test_service_level_uses_the_queues_own_target() -> None:
    f = call_figures("t", CALLS, sl_targets={"queue general": 30.0})
    assert f.service_level == 0.4  # c1 (5 s) and c2 (30 s) within 30 s


def test_still_live_calls_are_offered_but_not_timed() -> None:
    live = call("c9", 0, None, wait=5)  # type: ignore[arg-type]
    f = call_figures("t", [live])
    assert (f.offered, f.waited, f.wait_max_s, f.service_level) == (1, 0, None, None)


def test_a_call_across_midnight_counts_on_the_day_it_began() -> None:
    start = datetime(2026, 12, 1, 20, 59, 50, tzinfo=UTC)  # 23:59:50 in Moscow
    late = CallRecord(
        "m1", start, "answered", answered_at=start + timedelta(seconds=20),
        ended_at=start + timedelta(seconds=80), operator_id="op1",
        facts=JourneyFacts("queue general", start + timedelta(seconds=2)),
    )  # fmt: skip
    after = CallRecord("m2", start + timedelta(seconds=30), "abandoned")
    rows = calls_by("day", [late, after], [], MSK)
    assert [(r.key, r.offered, r.answered) for r in rows] == [
        ("2026-12-01", 1, 1),
        ("2026-12-02", 1, 0),
    ]
    assert rows[0].talk_total_s == 60.0  # the whole talk, though it ran past midnight
    assert rows[0].asa_s == 18.0


def test_the_hour_repeated_when_clocks_go_back_is_two_rows() -> None:
    # 25 Oct 2026, Berlin: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    # 20 real minutes across the change, though the wall clock goes 02:50 -> 02:10.
    across = CallRecord(
        "d1", first + timedelta(minutes=20), "answered",
        answered_at=first + timedelta(minutes=20), ended_at=first + timedelta(minutes=40),
    )  # fmt: skip
    rows = calls_by("hour", [CallRecord("d0", first, "abandoned"), across,
                             CallRecord("d2", second, "abandoned")], [], BERLIN)  # fmt: skip
    assert [(r.key, r.offered) for r in rows] == [
        ("2026-10-25 02:00+0200", 2),
        ("2026-10-25 02:00+0100", 1),
    ]
    assert rows[0].talk_total_s == 1200.0
    # By hour of the week both are Sunday 02.
    week = calls_by("hour_of_week", [CallRecord("d0", first, "x"), across,
                                     CallRecord("d2", second, "x")], [], BERLIN)  # fmt: skip
    assert [(r.key, r.offered) for r in week] == [("Sun 02", 3)]


def test_groups_by_line_and_queue() -> None:
    other = call("o1", 30, "answered", wait=1, answer=3, end=10, line="dms", queue="queue dms")
    rows = calls_by("queue", [*CALLS, other], [], MSK)
    assert [(r.key, r.offered) for r in rows] == [
        ("-", 3),  # c3, c7, c8 never waited
        ("queue dms", 1),
        ("queue general", 5),
    ]
    assert [r.key for r in calls_by("line", [*CALLS, other], [], MSK)] == ["dms", "main"]


def test_journey_facts_from_events() -> None:
    events: list[tuple[datetime, str, dict[str, object]]] = [
        (at(0), "arrived", {}),
        (at(1), "menu", {"menu": "main"}),
        (at(9), "waiting", {"for": "queue dms", "max_wait_s": 120}),
        (at(12), "ringing", {"operator": "op1"}),
        (at(30), "ring_result", {"operator": "op1", "result": "no_answer"}),
        (at(31), "waiting", {"for": "queue dms"}),
        (at(33), "ringing", {"operator": "op2"}),
        (at(35), "ring_result", {"operator": "op2", "result": "cancelled"}),
        (at(35), "abandoned", {}),
    ]
    assert journey_facts(events) == JourneyFacts("queue dms", at(9), at(12), False, "ringing")
    waiting = [*events[:6], (at(60), "abandoned", {})]
    assert journey_facts(waiting).abandoned == "waiting"
    assert journey_facts([(at(0), "menu", {}), (at(4), "abandoned", {})]).abandoned == "menu"
    handed = journey_facts([(at(0), "fallback", {"reason": "AriError"})])
    assert handed.fallback and handed.abandoned is None


def test_fallback_misses_count_once() -> None:
    seen = MissRecord("c8", "fallback_unanswered", at(500))  # c8 has a call row
    unseen = MissRecord("ast-77", "fallback_unanswered", at(600), line="main")
    data = ReportData(CALLS, [], [seen, unseen], [])
    report = build_report(data, DAY, at(3600), MSK, group="line")
    assert report.total.offered == 9  # the 8 calls + the one the router never saw
    assert report.total.fallback == 2  # c8 handed over, ast-77 missed there
    assert report.total.no_operator == 2  # c6, ast-77
    assert report.misses.by_source == {"fallback": 2}
    assert [(g.key, g.offered) for g in report.groups] == [("main", 9)]


def test_a_fallback_miss_after_midnight_of_a_call_of_the_day_before_is_not_a_call() -> None:
    # f1: the router took it at 23:59:50 and handed it to the fallback, missed there at
    # 00:00:30; ast-9: missed in the fallback while the router was down (no call row).
    start = datetime(2026, 12, 1, 23, 59, 50, tzinfo=MSK)
    f1 = CallRecord("f1", start, "failed", ended_at=start + timedelta(seconds=5),
                    facts=JourneyFacts(fallback=True))  # fmt: skip
    late = MissRecord("f1", "fallback_unanswered", start + timedelta(seconds=40),
                      call_recorded=True)  # fmt: skip
    unseen = MissRecord("ast-9", "fallback_unanswered", start + timedelta(hours=10))
    day1 = (datetime(2026, 12, 1, tzinfo=MSK), datetime(2026, 12, 2, tzinfo=MSK))
    day2 = (day1[1], datetime(2026, 12, 3, tzinfo=MSK))
    now = day2[1]
    first = build_report(ReportData([f1], [], [], []), day1, now, MSK).total
    assert (first.offered, first.failed, first.fallback, first.no_operator) == (1, 1, 1, 0)
    second = build_report(ReportData([], [], [late, unseen], []), day2, now, MSK)
    t = second.total
    assert (t.offered, t.no_operator, t.fallback) == (1, 1, 1)  # ast-9 alone
    assert second.misses.by_source == {"fallback": 2}  # both misses are the day's misses
    both = build_report(ReportData([f1], [], [late, unseen], []), (day1[0], day2[1]), now, MSK)
    assert (both.total.offered, both.total.fallback) == (2, 2)


def test_a_callback_counts_for_the_operator_on_the_day_it_was_worked() -> None:
    # missed at 20:00, called back by op1 at 09:05 the next day; a miss at 10:00 closed by
    # op2 by hand the same day; a miss at 08:00 the next day joined the first task.
    day1 = (datetime(2026, 12, 1, tzinfo=MSK), datetime(2026, 12, 2, tzinfo=MSK))
    day2 = (day1[1], datetime(2026, 12, 3, tzinfo=MSK))

    def t(h: float) -> datetime:
        return day1[0] + timedelta(hours=h)

    first = TaskRecord(1, "closed", t(20), t(20), t(20), miss_count=2, attempts=1,
                       first_attempt_at=t(33), closed_at=t(33 + 1 / 12),
                       close_reason="connected", worked_by="op1")  # fmt: skip
    second = TaskRecord(2, "closed", t(10), t(10), t(10), closed_at=t(11),
                        close_reason="done", worked_by="op2")  # fmt: skip
    m1, m2 = (
        MissRecord("a", "after_hours", t(20), task_id=1),
        MissRecord("b", "abandoned", t(10), task_id=2),
    )
    again = MissRecord("c", "abandoned", t(32), task_id=1)
    now = day2[1]

    def worked(period: tuple[datetime, datetime], misses: list[MissRecord],
               tasks: list[TaskRecord]) -> dict[str, int]:  # fmt: skip
        report = build_report(ReportData([], [], misses, tasks), period, now, MSK)
        return {o.operator_id: o.callbacks_worked for o in report.operators}

    # each period is given what the storage reads: its misses' tasks, those closed in it
    assert worked(day1, [m1, m2], [first, second]) == {"op2": 1}
    assert worked(day2, [again], [first]) == {"op1": 1}
    assert worked((day1[0], day2[1]), [m1, m2, again], [first, second]) == {"op1": 1, "op2": 1}
    # the task's own figures stay with its miss's day
    day1_misses = build_report(ReportData([], [], [m1, m2], [first, second]), day1, now, MSK)
    assert (day1_misses.misses.tasks_created, day1_misses.misses.called_back) == (2, 1)
    assert day1_misses.misses.worked_share == 1.0
    day2_misses = build_report(ReportData([], [], [again], [first]), day2, now, MSK).misses
    assert (day2_misses.tasks_created, day2_misses.merged, day2_misses.called_back) == (0, 1, 0)


RINGS = [
    RingRecord("c1", "op1", at(12), "answered", 3000),
    RingRecord("c2", "op2", at(80), "no_answer", 20000),
    RingRecord("c2", "op3", at(100), "busy", 500),
    RingRecord("c2", "op1", at(108), "answered", 2000),
    RingRecord("c4", "op2", at(200), "no_answer", 20000),
    RingRecord("c5", "op2", at(244), "cancelled", 10000),
    RingRecord("c6", "op3", at(330), "unavailable", 0),
]


def test_the_operator_who_does_not_pick_up_is_first() -> None:
    rows = operators_report(RINGS, CALLS, [], DAY)
    assert [r.operator_id for r in rows] == ["op2", "op3", "op1"]
    op2, op3, op1 = rows
    # op2: 3 rings, the caller left during one: 0 of 2 answered.
    assert (op2.rings, op2.rang_out, op2.caller_left, op2.answer_rate) == (3, 2, 1, 0.0)
    assert (op3.rejected, op3.unavailable, op3.answer_rate) == (1, 1, 0.0)
    assert (op1.answered, op1.answer_rate, op1.answer_avg_s, op1.answer_p50_s) == (
        2, 1.0, 2.5, 2.5,
    )  # fmt: skip
    assert (op1.talk_total_s, op1.talk_avg_s) == (180.0, 90.0)
    assert op1.wrap_up_s is None and op1.paused_s is None  # no state history given


def test_an_operator_paused_mid_call() -> None:
    # op1 talks 10:00-10:05 (c1 from 0 s to 75 s here); they press "pause: lunch" during
    # the call: the pause takes effect when the call ends, after 30 s of wrap-up.
    spans = [
        StateSpan("op1", "on_call", at(15), at(75)),
        StateSpan("op1", "wrap_up", at(75), at(105)),
        StateSpan("op1", "paused", at(105), at(1905), "lunch"),
        StateSpan("op1", "available", at(1905), None),
        StateSpan("op2", "paused", DAY[0] - timedelta(hours=1), DAY[0] + timedelta(hours=1)),
        StateSpan("op2", "paused", DAY[1] - timedelta(minutes=10), None, "training"),
    ]
    rows = {r.operator_id: r for r in operators_report(RINGS, CALLS, [], DAY, spans)}
    assert rows["op1"].paused_s == {"lunch": 1800.0}
    assert rows["op1"].wrap_up_s == 30.0
    assert rows["op1"].talk_total_s == 180.0  # the pause takes nothing from the talk
    # Clipped to the period: an hour of the night pause, 10 minutes of the open one.
    assert rows["op2"].paused_s == {"-": 3600.0, "training": 600.0}
    assert rows["op3"].paused_s == {} and rows["op3"].wrap_up_s == 0.0


def task(tid: int, created: float, state: str = "open", **kw: object) -> TaskRecord:
    values: dict[str, object] = {
        "first_missed_at": at(created), "due_at": at(created), **kw,
    }  # fmt: skip
    return TaskRecord(tid, state, at(created), **values)  # type: ignore[arg-type]


def test_misses_merged_tasks_and_callbacks() -> None:
    misses = [
        MissRecord("c4", "abandoned", at(250), 50, task_id=1),
        MissRecord("x1", "abandoned", at(1450), 40, task_id=1),  # the same number again
        MissRecord("x2", "max_wait", at(3850), 120, task_id=1),
        MissRecord("c3", "abandoned_in_ivr", at(128), task_id=None),  # too short: no task
        MissRecord("c6", "max_wait", at(440), 120, task_id=2),
        MissRecord("a1", "no_operator", at(500), anonymous=True),
        MissRecord("x3", "requested", at(600), task_id=3),
        MissRecord("x4", "abandoned", at(700), task_id=9),  # task of yesterday
    ]
    tasks = [
        # 3 misses, 2 attempts, reached by a callback 2 h after the first miss.
        task(1, 250, "closed", miss_count=3, attempts=2, first_attempt_at=at(550),
             closed_at=at(7450), close_reason="connected", worked_by="op1"),
        # The patient called again 10 min later and reached an operator.
        task(2, 440, "closed", first_attempt_at=at(1340), closed_at=at(1040),
             close_reason="reached_operator"),
        task(3, 600, "open", due_at=at(600)),  # overdue by 3000 s at `now`
        task(9, -86400, "claimed", due_at=at(3000)),  # from yesterday, due 600 s ago
    ]  # fmt: skip
    report = build_report(ReportData([], [], misses, tasks), DAY, at(3600), MSK)
    m = report.misses
    assert (m.misses, m.anonymous, m.without_task) == (8, 1, 2)
    assert m.by_reason == {
        "abandoned": 3, "abandoned_in_ivr": 1, "max_wait": 2, "no_operator": 1, "requested": 1,
    }  # fmt: skip
    assert m.by_source == {"router": 8}
    assert (m.tasks_created, m.merged) == (3, 3)  # x1, x2 joined task 1; x4 joined task 9
    assert (m.reached, m.called_back, m.called_in, m.unreachable) == (2, 1, 1, 0)
    assert m.worked_share == round(2 / 3, 4)
    assert m.first_attempt_p50_s == 600.0  # 300 and 900 s
    assert (m.reached_p50_s, m.reached_p90_s) == (3900.0, 6540.0)  # 600 + 0.9 × 6600
    assert m.attempts_per_success == 2.0
    assert (m.open_now, m.overdue_now) == (2, 0)  # 3000 and 600 s past due: under 1 h
    later = build_report(ReportData([], [], misses, tasks), DAY, at(4300), MSK)
    assert later.misses.overdue_now == 1
    assert report.operators[0].callbacks_worked == 1


def test_this_week_against_last() -> None:
    data = ReportData(CALLS, RINGS, [], [])
    now = at(3600)
    this = build_report(data, DAY, now, MSK)
    last = build_report(ReportData(CALLS[:4], [], [], []), DAY, now, MSK)
    changes = {c.figure: c for c in compare(this, last)}
    assert (changes["calls.offered"].current, changes["calls.offered"].previous) == (8, 4)
    assert changes["calls.offered"].change == 1.0
    assert changes["calls.answered"].change == 0.0
    # Waits: this 5, 30, 50, 12, 120 (p50 30); last 5, 30, 50 (p50 30).
    assert changes["calls.wait_p50_s"].change == 0.0
    assert changes["misses.worked_share"].change is None  # no tasks either week


def test_report_json_has_every_section() -> None:
    report = build_report(ReportData(CALLS, RINGS, [], []), DAY, at(3600), MSK, group="hour")
    body = report.to_json()
    assert set(body) == {"start", "end", "calls", "group", "groups", "operators", "misses"}
    assert body["calls"]["abandoned"] == 3
    assert [g["key"] for g in body["groups"]] == ["2026-12-01 12:00+0300"]


@pytest.mark.parametrize("group", ["line", "queue", "day", "hour", "hour_of_week"])
def test_groups_add_up_to_the_total(group: str) -> None:
    report = build_report(ReportData(CALLS, [], [], []), DAY, at(3600), MSK, group=group)  # type: ignore[arg-type]
    for name in ("offered", "answered", "abandoned_waiting", "waited", "fallback"):
        assert sum(getattr(g, name) for g in report.groups) == getattr(report.total, name)


def test_percentile_agrees_with_statistics_quantiles() -> None:
    import random
    import statistics

    from router.domain.reports.stats import percentile

    rnd = random.Random(3)
    for size in (2, 3, 10, 101, 1000):
        values = [rnd.expovariate(1 / 30) for _ in range(size)]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        for p in (1, 50, 90, 99):
            assert percentile(values, p) == pytest.approx(cuts[p - 1])
    assert percentile([7.0], 90) == 7.0 and percentile([], 50) is None


def test_chart_data() -> None:
    from router.domain.reports.charts import chart_data, wait_buckets

    # Waits: c1 5, c2 30, c4 50, c5 12, c6 120 s; the others never waited.
    assert wait_buckets(CALLS) == [
        ("0–10 s", 1), ("10–20 s", 1), ("20–30 s", 0), ("30–60 s", 2), ("60–120 s", 0),
        ("120–300 s", 1), ("300 s+", 0),
    ]  # fmt: skip
    report = build_report(ReportData(CALLS, RINGS, [], []), DAY, at(3600), MSK, group="hour")
    charts = chart_data(report, wait_buckets(CALLS))
    assert charts["hours"] == {
        "labels": ["2026-12-01 12:00+0300"], "offered": [8], "answered": [2],
        "service_level": [0.2],
    }  # fmt: skip
    assert charts["operators"] == {"labels": ["op2", "op3", "op1"], "answer_rate": [0.0, 0.0, 1.0]}


def test_table_shows_shares_as_percentages() -> None:
    from router.domain.reports.export import section_rows, to_table

    report = build_report(ReportData(CALLS, RINGS, [], []), DAY, at(3600), MSK)
    calls = to_table(section_rows(report, "calls")).splitlines()
    header, total = calls[0].split(), calls[1].split()
    assert total[header.index("service_level")] == "20.0%"
    misses = to_table([{"figure": "worked_share", "value": 0.5}, {"figure": "misses", "value": 3}])
    assert misses.splitlines()[1:] == ["worked_share  50.0%", "misses        3"]
    changes = to_table(section_rows(report, "compare", compare(report, report)))
    line = next(x for x in changes.splitlines() if x.startswith("calls.service_level"))
    assert line.split()[1:] == ["20.0%", "20.0%", "0.0%"]


def test_staffing_series_shows_hours_with_calls() -> None:
    from router.domain.reports.charts import staffing_series
    from router.domain.reports.staffing import staffing

    rows = staffing(CALLS, DAY, MSK)
    series = staffing_series(rows)
    assert series["labels"] == ["Tue 12"]  # every call of CALLS starts at 12:00 Moscow
    assert series["erlang_c"][0] >= series["erlang_a"][0] >= 1
    assert series["on_duty"] == [None]  # no state history


def test_groups_by_branch_through_the_lines() -> None:
    other = call("o1", 30, "answered", wait=1, answer=3, end=10, line="dms")
    orphan = call("o2", 40, "abandoned", end=5, line=None)
    rows = calls_by("branch", [*CALLS, other, orphan], [], MSK, branches={"main": "moscow"})
    assert [(r.key, r.offered) for r in rows] == [("-", 2), ("moscow", 8)]  # dms: no branch
