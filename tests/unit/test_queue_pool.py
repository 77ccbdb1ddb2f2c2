"""A queue's pool: branches, teams and languages (domain/queue_steps.py)."""

from __future__ import annotations

from router.domain.operators import Operator
from router.domain.queue_steps import Queue, QueueStep, eligible_operators

OPS = [
    Operator("a", "A", "PJSIP/a", team="vip", branch="moscow", skills={"paid": 3}),
    Operator("b", "B", "PJSIP/b", team="front", branch="moscow", skills={"paid": 3}),
    Operator(
        "c", "C", "PJSIP/c", team="vip", branch="ryazan", skills={"paid": 3}, languages=("en",)
    ),
]


def ids(queue: Queue) -> list[str]:
    return [op.id for op in eligible_operators(queue, 0, OPS)]


def test_teams_branches_and_languages_narrow_the_pool() -> None:
    step = (QueueStep(0, ("paid",)),)
    assert ids(Queue("q", step)) == ["a", "b", "c"]
    assert ids(Queue("q", step, teams=frozenset({"vip"}))) == ["a", "c"]
    assert ids(Queue("q", step, teams=frozenset({"vip"}), branches=frozenset({"moscow"}))) == ["a"]
    assert ids(Queue("q", step, languages=frozenset({"en"}))) == ["c"]
