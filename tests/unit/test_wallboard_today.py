"""Today's wallboard figures kept as calls end (router.domain.wallboard_today): the same
figures as tallying the day's calls from the store, without reading them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from router.domain.operators import Presence
from router.domain.wallboard import CallOfToday, OperatorInput, summarise
from router.domain.wallboard_today import CallsOfToday, DayCounts

MIDNIGHT = datetime(2026, 12, 3, tzinfo=UTC)
T0 = MIDNIGHT + timedelta(hours=9)
OPS = [OperatorInput("op1", "Anna", Presence.AVAILABLE, None, 0.0, 0)]
TARGETS = {"paid": 15.0}


def board(today: object) -> object:
    return summarise(OPS, [], today, sl_targets=TARGETS)  # type: ignore[arg-type]


def test_a_call_followed_from_start_to_outcome_is_counted_in_its_last_queue() -> None:
    day = CallsOfToday(MIDNIGHT)
    day.started("c1", T0, "moscow")
    day.waited("c1", T0 + timedelta(seconds=5), "queue oms")
    day.waited("c1", T0 + timedelta(seconds=60), "queue paid")
    assert not day.updated("c1", {"answered_at": T0 + timedelta(seconds=70)})
    assert day.updated("c1", {"outcome": "answered"})
    expected = CallOfToday("moscow", "answered", 70.0, "paid", 10.0)
    assert day.counts.calls() == {"c1": expected}
    assert board(day.counts) == board([expected])


def test_a_call_that_started_before_midnight_is_not_the_days() -> None:
    day = CallsOfToday(MIDNIGHT)
    day.started("c0", MIDNIGHT - timedelta(minutes=1), "moscow")
    assert not day.updated("c0", {"outcome": "abandoned"})
    assert len(day.counts) == 0


def test_an_unseen_call_that_ends_asks_for_the_store() -> None:
    day = CallsOfToday(MIDNIGHT)
    day.rebuilt({})
    assert not day.stale
    assert not day.updated("adopted", {"phase": "bridged"})
    assert not day.stale  # no outcome: nothing to count yet
    assert not day.updated("adopted", {"outcome": "answered"})
    assert day.stale


def test_a_rebuild_keeps_calls_finished_here_whose_writes_have_not_landed() -> None:
    day = CallsOfToday(MIDNIGHT)
    day.started("late", T0, "moscow")
    day.updated("late", {"outcome": "abandoned"})
    stored = {
        "old": CallOfToday("moscow", "answered", 3.0, "paid", 3.0),
        "late": CallOfToday("moscow", None, None, None, None),  # its outcome not yet written
        "live": CallOfToday("moscow", None, None, None, None),
    }
    day.rebuilt(stored)
    assert set(day.counts.calls()) == {"old", "late"}
    assert day.counts.calls()["late"].outcome == "abandoned"
    day.rebuilt(stored, keep_finished=False)
    assert set(day.counts.calls()) == {"old"}


def test_a_new_day_starts_from_nothing_and_drops_yesterdays_live_calls() -> None:
    day = CallsOfToday(MIDNIGHT)
    day.rebuilt({"a": CallOfToday("moscow", "answered", 1.0, "paid", 1.0)})
    day.started("yesterday", T0, "moscow")
    tomorrow = MIDNIGHT + timedelta(days=1)
    day.new_day(tomorrow)
    assert len(day.counts) == 0 and day.stale
    assert not day.updated("yesterday", {"outcome": "answered"})


def test_an_outcome_recorded_twice_counts_once() -> None:
    counts = DayCounts()
    assert counts.put("c", CallOfToday("l", "abandoned", None, "paid", None))
    assert not counts.put("c", CallOfToday("l", "abandoned", None, "paid", None))
    assert counts.put("c", CallOfToday("l", "answered", 12.0, "paid", 12.0))
    assert counts.queue_tallies(lambda _q: 15.0)["paid"] == {
        "answered": 1,
        "in_target": 1,
        "abandoned": 0,
        "missed": 0,
    }


outcomes = st.sampled_from(["answered", "abandoned", "no_operator", "callback", "failed", None])
calls = st.builds(
    CallOfToday,
    st.sampled_from(["moscow", "spb", None]),
    outcomes,
    st.none() | st.floats(0, 100),
    st.sampled_from(["paid", "oms", None]),
    st.none() | st.floats(0, 100),
)


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), calls), max_size=40))
def test_running_counts_give_the_board_a_full_tally_gives(
    puts: list[tuple[str, CallOfToday]],
) -> None:
    """Whatever order calls finish in, and however often one is put again, the board
    shows what tallying the day's final calls shows (service levels included)."""
    counts = DayCounts()
    final: dict[str, CallOfToday] = {}
    for call_id, call in puts:
        counts.put(call_id, call)
        if call.outcome is not None:
            final[call_id] = call
    assert board(counts) == board(list(final.values()))
