"""The wallboard summary (pure): queues, today's figures, operators, waiting callers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.domain.operators import Presence
from router.domain.wallboard import (
    NO_QUEUE,
    WAITING_ROWS,
    CallbackCounts,
    CallOfToday,
    OperatorInput,
    WaitingInput,
    board_queue,
    last_queue,
    summarise,
)

OLGA = OperatorInput("op1001", "Olga", Presence.ON_CALL, None, 100.0, 3, None, "+79161234567")
IVAN = OperatorInput("op1002", "Ivan", Presence.PAUSED, "lunch", 50.0, 1, None, "+79160000000")


def test_waiting_callers_are_numbered_per_queue_in_serving_order() -> None:
    waiting = [
        WaitingInput("c1", 10.0, "dms", ("main:3",), "+79161110001"),
        WaitingInput("c2", 5.0, "general", (), None),
        WaitingInput("c3", 20.0, "dms", (), "+79161110003"),
    ]
    board = summarise([], waiting)
    assert [(w.call_id, w.position) for w in board.waiting] == [("c1", 1), ("c2", 1), ("c3", 2)]
    queues = {q.name: (q.waiting, q.longest_since) for q in board.queues}
    assert queues == {"dms": (2, 10.0), "general": (1, 5.0)}


def test_numbers_are_masked_unless_whole_ones_are_allowed() -> None:
    waiting = [WaitingInput("c1", 1.0, None, (), "+79161110001")]
    masked = summarise([OLGA], waiting)
    assert masked.waiting[0].caller == "+7 916 ***-**-01"
    assert masked.waiting[0].queue == NO_QUEUE
    assert masked.operators[0].caller == "+7 916 ***-**-67"
    whole = summarise([OLGA], waiting, whole_numbers=True)
    assert whole.waiting[0].caller == "+79161110001"


def test_an_operator_shows_a_caller_only_while_ringing_or_talking() -> None:
    board = summarise([IVAN, OLGA], [])
    assert [(o.id, o.state, o.reason, o.caller) for o in board.operators] == [
        ("op1001", "on_call", None, "+7 916 ***-**-67"),
        ("op1002", "paused", "lunch", None),
    ]


def test_todays_figures_per_line_with_the_service_level() -> None:
    today = [
        CallOfToday("moscow", "answered", 5.0),
        CallOfToday("moscow", "answered", 25.0),
        CallOfToday("moscow", "abandoned", None),
        CallOfToday("moscow", "no_operator", None),
        CallOfToday("moscow", None, None),  # still live: not counted yet
        CallOfToday("spb", "callback", None),
    ]
    board = summarise([], [], today, CallbackCounts(4, 1), sl_target_s=20)
    lines = {row.name: row for row in board.lines}
    moscow = lines["moscow"]
    assert (moscow.answered, moscow.abandoned, moscow.missed) == (2, 1, 1)
    assert moscow.service_level == 0.25
    assert lines["spb"].missed == 1 and lines["spb"].service_level == 0.0
    assert board.callbacks == CallbackCounts(4, 1)


def test_equal_inputs_make_equal_boards() -> None:
    # The feed sends a board only when it differs from the last one sent.
    assert summarise([OLGA], []) == summarise([OLGA], [])
    assert summarise([OLGA], []) != summarise([IVAN], [])


def test_the_list_of_waiting_callers_is_capped_but_every_caller_counts() -> None:
    waiting = [WaitingInput(f"c{n}", float(n), "paid", (), None) for n in range(WAITING_ROWS + 5)]
    board = summarise([], waiting)
    assert len(board.waiting) == WAITING_ROWS and board.waiting_total == WAITING_ROWS + 5
    assert board.queues[0].waiting == WAITING_ROWS + 5


def test_who_lets_calls_ring_out_is_visible() -> None:
    quiet = OperatorInput("op1003", "Oleg", Presence.AVAILABLE, None, 1.0, 0, no_answers=2)
    (row,) = summarise([quiet], []).operators
    assert row.no_answers == 2


def _at(s: float) -> datetime:
    return datetime(2026, 12, 3, 9, 0, tzinfo=UTC) + timedelta(seconds=s)


def test_a_journey_counts_for_the_queue_it_waited_for_last_from_joining_it() -> None:
    # Waited for dms, then the queue's at_max_wait sent it to paid; a restart resumed
    # the wait for paid (a second `waiting` event): paid was joined at 40 s, not 70 s.
    waits = [
        (_at(5), "queue dms"),
        (_at(40), "queue paid"),
        (_at(70), "queue paid"),
    ]
    assert last_queue(waits) == ("paid", _at(40))
    assert last_queue([]) == (None, None)


def test_journey_labels_are_named_as_the_live_list_names_queues() -> None:
    assert board_queue("queue dms") == "dms"
    assert board_queue("queue skills dms+paid") == "skills: dms, paid"
    assert board_queue("queue skills any") == "skills: any"
    assert board_queue("assigned op1001") == "operator op1001"
    assert board_queue("operator op1002") == "operator op1002"


def test_todays_figures_per_queue_count_from_joining_the_queue_against_its_target() -> None:
    today = [
        # 50 s after arrival but 10 s after joining dms: within dms's 15 s target
        CallOfToday("moscow", "answered", 50.0, "dms", 10.0),
        CallOfToday("moscow", "answered", 30.0, "dms", 16.0),  # past 15 s
        CallOfToday("moscow", "abandoned", None, "dms", None),
        CallOfToday("moscow", "callback", None, "dms", None),  # kept their place: missed
        CallOfToday("moscow", "answered", 25.0, "paid", 19.0),  # paid: the default 20 s
        CallOfToday("moscow", None, None, "paid", None),  # still live
        CallOfToday("moscow", "abandoned", None, None, None),  # hung up in the menu
    ]
    waiting = [WaitingInput("c9", 1.0, "paid", (), None)]
    board = summarise(
        [],
        waiting,
        today,
        CallbackCounts(3, 1),
        sl_targets={"dms": 15.0},
        queue_callbacks={"dms": CallbackCounts(2, 1), "general": CallbackCounts(1, 0)},
    )
    queues = {q.name: q for q in board.queues}
    assert set(queues) == {"dms", "paid", "general"}  # no row for calls that never waited
    dms, paid = queues["dms"], queues["paid"]
    assert (dms.waiting, dms.answered, dms.abandoned, dms.missed) == (0, 2, 1, 1)
    assert (dms.service_level, dms.sl_target_s) == (0.25, 15.0)
    assert dms.callbacks == CallbackCounts(2, 1)
    assert (paid.waiting, paid.longest_since, paid.answered, paid.service_level) == (
        1,
        1.0,
        1,
        1.0,
    )
    assert paid.sl_target_s == 20.0 and paid.callbacks == CallbackCounts()
    assert queues["general"].answered == 0 and queues["general"].service_level is None
    # The per-line table still counts from arrival: 50 s and 30 s are past 20 s.
    assert board.lines[0].answered == 3 and board.lines[0].service_level == 0.0
