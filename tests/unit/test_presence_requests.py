"""One rule for a state asked for during a call (API, feature codes, console): kept as
pending and applied when the call lets go, never overwritten by the hang-up."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.domain.operators import Operator, OperatorStatus, Presence, PresenceChange
from router.domain.presence import HELD_BY_A_CALL, after_call, decide_request
from router.engine.board import OperatorBoard

OFFLINE = PresenceChange(Presence.OFFLINE)
LUNCH = PresenceChange(Presence.PAUSED, "lunch")
AVAILABLE = PresenceChange(Presence.AVAILABLE)
WANTED = st.sampled_from([OFFLINE, LUNCH, AVAILABLE, PresenceChange(Presence.PAUSED)])


@given(current=st.sampled_from(list(Presence)), wanted=WANTED)
def test_a_request_is_applied_now_or_kept_never_both(
    current: Presence, wanted: PresenceChange
) -> None:
    decision = decide_request(current, wanted)
    assert decision.now is None or decision.pending is None
    if current in HELD_BY_A_CALL:
        assert decision.now is None
        assert decision.pending == (None if wanted.presence is Presence.AVAILABLE else wanted)
    else:
        assert decision.now == wanted and decision.pending is None


@pytest.mark.parametrize("current", [Presence.WRAP_UP, Presence.PAUSED, Presence.OFFLINE])
def test_outside_a_call_the_request_is_applied_now(current: Presence) -> None:
    assert decide_request(current, OFFLINE).now == OFFLINE


def test_a_reason_only_goes_with_a_pause() -> None:
    decision = decide_request(Presence.ON_CALL, PresenceChange(Presence.OFFLINE, "lunch"))
    assert decision.pending == OFFLINE


@pytest.mark.parametrize("state", [Presence.ON_CALL, Presence.RINGING, Presence.WRAP_UP])
def test_engine_states_cannot_be_asked_for(state: Presence) -> None:
    with pytest.raises(ValueError):
        decide_request(Presence.AVAILABLE, PresenceChange(state))


@pytest.mark.parametrize(
    ("pending", "wrap_up_s", "then"),
    [
        (None, 0.0, AVAILABLE),
        (None, 30.0, PresenceChange(Presence.WRAP_UP)),
        (OFFLINE, 30.0, OFFLINE),  # asked for during the call: no wrap-up first
        (LUNCH, 0.0, LUNCH),
    ],
)
def test_after_a_call(
    pending: PresenceChange | None, wrap_up_s: float, then: PresenceChange
) -> None:
    assert after_call(pending, wrap_up_s) == then


# -- the board applies the rule -------------------------------------------------------------


class Later:
    """`schedule` for the wrap-up timer: runs it when the test says."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, delay: float, fn: Any, *args: Any) -> None:
        self.calls.append((fn, *args))

    def run(self) -> None:
        for fn, *args in self.calls:
            fn(*args)


def board_on_a_call() -> OperatorBoard:
    board = OperatorBoard(lambda: 1000.0)
    board.load([OperatorStatus(Operator("a", "Anna", "PJSIP/a"), Presence.AVAILABLE)])
    board.reserve("a")
    board.connected("a")
    return board


def test_a_change_during_a_call_is_applied_at_hang_up_not_overwritten() -> None:
    board = board_on_a_call()
    status = board.request_state("a", Presence.OFFLINE)
    assert (status.presence, status.pending) == (Presence.ON_CALL, OFFLINE)
    later = Later()
    board.finished("a", 30.0, later)
    assert (board.get("a").presence, board.get("a").pending) == (Presence.OFFLINE, None)
    assert later.calls == []  # no wrap-up timer to turn them available again


def test_the_last_request_during_a_call_wins() -> None:
    board = board_on_a_call()
    board.request_state("a", Presence.OFFLINE)
    board.request_state("a", Presence.PAUSED, "lunch")
    board.finished("a", 0.0, Later())
    assert (board.get("a").presence, board.get("a").reason) == (Presence.PAUSED, "lunch")


def test_available_during_a_call_cancels_what_was_pending() -> None:
    board = board_on_a_call()
    board.request_state("a", Presence.OFFLINE)
    board.request_state("a", Presence.AVAILABLE)
    later = Later()
    board.finished("a", 30.0, later)
    assert board.get("a").presence is Presence.WRAP_UP
    later.run()
    assert board.get("a").presence is Presence.AVAILABLE


@pytest.mark.parametrize("end", ["ring_failed", "release"])
def test_a_ring_that_ends_unanswered_applies_the_pending_state(end: str) -> None:
    board = OperatorBoard(lambda: 1000.0)
    board.load([OperatorStatus(Operator("a", "Anna", "PJSIP/a"), Presence.AVAILABLE)])
    board.reserve("a")
    board.request_state("a", Presence.PAUSED, "lunch")
    assert board.get("a").presence is Presence.RINGING
    getattr(board, end)("a")
    assert (board.get("a").presence, board.get("a").reason) == (Presence.PAUSED, "lunch")
    assert board.available() == []


def test_during_wrap_up_the_change_is_immediate_and_the_timer_leaves_it() -> None:
    board = board_on_a_call()
    later = Later()
    board.finished("a", 30.0, later)
    board.request_state("a", Presence.OFFLINE)
    assert board.get("a").presence is Presence.OFFLINE
    later.run()
    assert board.get("a").presence is Presence.OFFLINE


@pytest.mark.parametrize(
    ("asked", "then"), [(Presence.OFFLINE, Presence.OFFLINE), (None, Presence.AVAILABLE)]
)
def test_a_call_found_gone_on_reconnect_applies_the_pending_state(
    asked: Presence | None, then: Presence
) -> None:
    board = board_on_a_call()
    if asked is not None:
        board.request_state("a", asked)
    board.call_gone("a")
    assert (board.get("a").presence, board.get("a").pending) == (then, None)
