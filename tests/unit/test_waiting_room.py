"""The waiting room hands out free operators through the board (engine/waiting_room.py)."""

from __future__ import annotations

import asyncio

from router.domain.dispatch import WaitingCall
from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.engine.waiting_room import OperatorOffer, WaitingRoom


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_room(*presences: Presence) -> tuple[WaitingRoom, OperatorBoard, Clock]:
    clock = Clock()
    board = OperatorBoard(clock=clock)
    board.load(
        OperatorStatus(Operator(f"op{i}", f"op{i}", f"PJSIP/op{i}"), p, since=0, idle_since=i)
        for i, p in enumerate(presences, start=1)
    )
    return WaitingRoom(board, clock), board, clock


def collect(box: list[OperatorOffer], accept: bool = True):  # type: ignore[no-untyped-def]
    def notify(offer: OperatorOffer) -> bool:
        box.append(offer)
        return accept

    return notify


def test_offer_reserves_the_operator_and_removes_the_waiter() -> None:
    room, board, clock = make_room(Presence.AVAILABLE)
    got: list[OperatorOffer] = []
    room.wait(WaitingCall("c1", 0, clock(), frozenset({"op1"})), collect(got))
    assert got == [OperatorOffer("op1")]
    assert board.get("op1").presence is Presence.RINGING
    assert not room.is_waiting("c1")


def test_refused_offer_gives_the_operator_back() -> None:
    room, board, clock = make_room(Presence.AVAILABLE)
    got: list[OperatorOffer] = []
    room.wait(WaitingCall("gone", 0, clock(), frozenset({"op1"})), collect(got, accept=False))
    assert got and board.get("op1").presence is Presence.AVAILABLE


async def test_operator_becoming_available_is_offered_to_the_first_in_line() -> None:
    room, board, _clock = make_room(Presence.ON_CALL)
    first: list[OperatorOffer] = []
    second: list[OperatorOffer] = []
    offered = asyncio.Event()

    def early(offer: OperatorOffer) -> bool:
        first.append(offer)
        offered.set()
        return True

    room.wait(WaitingCall("early", 0, 10.0, frozenset({"op1"})), early)
    room.wait(WaitingCall("late", 0, 20.0, frozenset({"op1"})), collect(second))
    assert room.position("early") == 1 and room.position("late") == 2
    board.set("op1", Presence.AVAILABLE)
    assert first == []  # deferred: the board is mid-change
    async with asyncio.timeout(1):  # the pass runs on the loop right after the change
        await offered.wait()
    assert first == [OperatorOffer("op1")] and second == []
    assert room.position("late") == 1


def test_position_counts_only_callers_competing_for_the_same_operators() -> None:
    room, _board, _clock = make_room(Presence.PAUSED, Presence.PAUSED)
    room.wait(WaitingCall("a", 0, 1.0, frozenset({"op1"})), collect([]))
    room.wait(WaitingCall("b", 0, 2.0, frozenset({"op2"})), collect([]))
    room.wait(WaitingCall("c", 0, 3.0, frozenset({"op1", "op2"})), collect([]))
    assert room.position("b") == 1
    assert room.position("c") == 3
    room.leave("a")
    assert room.position("c") == 2


def test_no_wait_estimate_without_history() -> None:
    room, _board, _clock = make_room(Presence.ON_CALL)
    room.wait(WaitingCall("a", 0, 1.0, frozenset({"op1"})), collect([]))
    assert room.estimated_wait_s("a") is None
    for _ in range(5):
        room.talk_finished(120.0)
    assert room.estimated_wait_s("a") == 120.0


def test_oldest_since_leaves_out_the_callbacks_waiting_beside_the_callers() -> None:
    room, _board, _clock = make_room(Presence.PAUSED)
    assert room.oldest_since() is None and room.oldest_since(exclude_prefix="cb-") is None
    room.wait(WaitingCall("cb-7", 0, 5.0, frozenset({"op1"})), collect([]))
    assert room.oldest_since() == 5.0
    assert room.oldest_since(exclude_prefix="cb-") is None  # only a callback waits
    room.wait(WaitingCall("in-2", 0, 30.0, frozenset({"op1"})), collect([]))
    room.wait(WaitingCall("in-1", 3, 20.0, frozenset({"op1"})), collect([]))  # priority: no
    assert room.oldest_since() == 5.0
    assert room.oldest_since(exclude_prefix="cb-") == 20.0
    assert room.oldest_since(exclude_prefix="") == 5.0  # an empty prefix leaves out nothing
    room.leave("in-1")
    assert room.oldest_since(exclude_prefix="cb-") == 30.0


def test_oldest_since_forgets_a_caller_who_was_offered_an_operator() -> None:
    room, _board, _clock = make_room(Presence.AVAILABLE)
    room.wait(WaitingCall("early", 0, 10.0, frozenset({"op1"})), collect([]))  # gets op1
    room.wait(WaitingCall("late", 0, 40.0, frozenset({"op1"})), collect([]))
    assert room.oldest_since() == 40.0
