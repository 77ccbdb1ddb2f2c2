from hypothesis import given
from hypothesis import strategies as st

from router.domain.calls import RingResult
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.presence import after_ring
from router.engine.board import OperatorBoard


def test_rings_let_ring_out_in_a_row_pause_the_operator() -> None:
    count = 0
    pauses = []
    for _ in range(3):
        outcome = after_ring(count, RingResult.NO_ANSWER, pause_after=3)
        count = outcome.no_answers
        pauses.append(outcome.pause)
    assert pauses == [False, False, True]


def test_an_answer_starts_the_count_again() -> None:
    assert after_ring(2, RingResult.ANSWERED, 3).no_answers == 0


def test_busy_unreachable_and_cancelled_say_nothing_about_the_operator() -> None:
    for result in (RingResult.BUSY, RingResult.UNAVAILABLE, RingResult.CANCELLED):
        assert after_ring(2, result, 3) == after_ring(2, result, 3)
        assert after_ring(2, result, 3).no_answers == 2
        assert not after_ring(2, result, 3).pause


@given(st.lists(st.sampled_from(list(RingResult)), max_size=40))
def test_zero_never_pauses(results: list[RingResult]) -> None:
    count = 0
    for result in results:
        outcome = after_ring(count, result, pause_after=0)
        assert not outcome.pause
        count = outcome.no_answers


def test_board_pauses_with_reason_and_unpause_resets() -> None:
    board = OperatorBoard(lambda: 1.0)
    board.load([OperatorStatus(Operator("a", "a", "PJSIP/a"), Presence.AVAILABLE)])
    for expected in (False, True):
        board.reserve("a")
        board.ring_failed("a")
        assert board.ring_result("a", RingResult.NO_ANSWER, pause_after=2) is expected
    status = board.get("a")
    assert (status.presence, status.reason, status.no_answers) == (Presence.PAUSED, "no_answer", 2)
    assert board.candidates(assigned_id=None, exclude=()) == []
    board.set("a", Presence.AVAILABLE)
    assert board.get("a").no_answers == 0
