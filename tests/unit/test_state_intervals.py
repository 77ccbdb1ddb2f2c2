"""`interval_state_sums`: an interval's state seconds are the raw sums of that interval
alone (spans to the operator's next change, the changes of the interval and the latest
before it, ties at one instant by id, keys of zero kept), so the intervals of a period
add up to the period's raw sums."""

from __future__ import annotations

from router.domain.reports.state_intervals import INTERVAL_US, interval_state_sums

S = 1_000_000
LOW = 100 * INTERVAL_US  # an interval's start


def test_a_span_across_intervals_counts_in_each_and_an_open_one_to_the_end() -> None:
    changes = [
        ("op1", "paused", "lunch", 1, LOW - 60 * S),  # the latest before: since 1 min before
        ("op1", "available", None, 2, LOW + INTERVAL_US + 30 * S),
    ]
    sums = interval_state_sums(changes, LOW, LOW + 3 * INTERVAL_US)
    assert sums == {
        (LOW, "op1", "paused", "lunch"): INTERVAL_US,
        (LOW + INTERVAL_US, "op1", "paused", "lunch"): 30 * S,
        (LOW + INTERVAL_US, "op1", "available", None): INTERVAL_US - 30 * S,
        # the third interval: the change before its start, still open
        (LOW + 2 * INTERVAL_US, "op1", "available", None): INTERVAL_US,
    }


def test_changes_at_one_instant_go_by_id_and_keep_their_zero_keys() -> None:
    at = LOW - 5 * S  # two changes at one instant before the interval: the later id wins
    changes = [
        ("op2", "wrap_up", None, 9, at),
        ("op2", "available", None, 7, at),
        ("op2", "on_call", None, 10, LOW + 10 * S),
        ("op3", "offline", None, 3, LOW + INTERVAL_US),  # on the next interval's start
    ]
    sums = interval_state_sums(changes, LOW, LOW + 2 * INTERVAL_US)
    assert sums == {
        (LOW, "op2", "available", None): 0,  # id 7, then id 9 at the same instant
        (LOW, "op2", "wrap_up", None): 10 * S,
        (LOW, "op2", "on_call", None): INTERVAL_US - 10 * S,
        (LOW + INTERVAL_US, "op2", "on_call", None): INTERVAL_US,
        (LOW + INTERVAL_US, "op3", "offline", None): INTERVAL_US,
    }


def test_an_operator_without_a_change_before_counts_from_its_first() -> None:
    changes = [("op4", "paused", "", 1, LOW + 100 * S)]
    assert interval_state_sums(changes, LOW, LOW + INTERVAL_US) == {
        (LOW, "op4", "paused", ""): INTERVAL_US - 100 * S
    }
