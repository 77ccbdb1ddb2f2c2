import pytest

from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_board() -> tuple[OperatorBoard, Clock, list[str]]:
    clock = Clock()
    changes: list[str] = []
    board = OperatorBoard(clock, on_change=lambda s: changes.append(f"{s.id}:{s.presence}"))
    board.load(
        [
            OperatorStatus(Operator(i, i, f"PJSIP/{i}"), Presence.AVAILABLE, idle_since=n)
            for n, i in enumerate(["a", "b"])
        ]
    )
    return board, clock, changes


def test_reserved_operator_is_not_offered_to_another_call() -> None:
    board, _, _ = make_board()
    first = board.candidates(assigned_id=None, exclude=())[0]
    board.reserve(first.id)
    assert [s.id for s in board.candidates(assigned_id=None, exclude=())] == ["b"]
    with pytest.raises(RuntimeError):
        board.reserve(first.id)


def test_failed_ring_returns_operator_behind_the_others() -> None:
    board, _, _ = make_board()
    board.reserve("a")
    board.ring_failed("a")
    assert board.get("a").presence is Presence.AVAILABLE
    assert [s.id for s in board.candidates(assigned_id=None, exclude=())] == ["b", "a"]


def test_finished_call_goes_through_wrap_up() -> None:
    board, clock, changes = make_board()
    timers: list[tuple[float, object, str]] = []
    board.reserve("a")
    board.connected("a")
    clock.t = 1100.0
    board.finished("a", 30, lambda delay, fn, arg: timers.append((delay, fn, arg)))
    assert board.get("a").presence is Presence.WRAP_UP
    delay, fn, arg = timers[0]
    assert delay == 30
    fn(arg)  # type: ignore[operator]
    status = board.get("a")
    assert status.presence is Presence.AVAILABLE and status.idle_since == 1100.0
    assert status.calls_today == 1
    assert changes[-1] == "a:available"


def test_pause_during_wrap_up_is_kept() -> None:
    board, _, _ = make_board()
    timers: list[tuple[float, object, str]] = []
    board.reserve("a")
    board.connected("a")
    board.finished("a", 30, lambda delay, fn, arg: timers.append((delay, fn, arg)))
    board.set("a", Presence.PAUSED, "lunch")
    _, fn, arg = timers[0]
    fn(arg)  # type: ignore[operator]
    assert board.get("a").presence is Presence.PAUSED


def test_operator_removed_from_rules_during_a_call_leaves_after_it() -> None:
    board, _, _ = make_board()
    board.reserve("a")
    board.connected("a")
    board.update_config([board.get("b").operator])
    assert board.get("a").presence is Presence.ON_CALL  # the call goes on
    board.finished("a", 0, lambda *args: None)
    assert [s.id for s in board.statuses()] == ["b"]
    assert [s.id for s in board.candidates(assigned_id=None, exclude=())] == ["b"]


def test_operator_added_by_a_reload_is_on_duty() -> None:
    board, _, _ = make_board()
    new = Operator("c", "c", "PJSIP/c")
    board.update_config([board.get("a").operator, board.get("b").operator, new])
    assert board.get("c").presence is Presence.AVAILABLE
