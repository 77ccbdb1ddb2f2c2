from hypothesis import given
from hypothesis import strategies as st

from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.selection import choose_operators


def status(
    op_id: str, presence: Presence = Presence.AVAILABLE, idle: float = 0.0
) -> OperatorStatus:
    return OperatorStatus(Operator(op_id, op_id, f"PJSIP/{op_id}"), presence, idle_since=idle)


def test_longest_idle_first() -> None:
    ops = [status("a", idle=30), status("b", idle=10), status("c", idle=20)]
    assert [s.id for s in choose_operators(ops)] == ["b", "c", "a"]


def test_assigned_operator_first_when_available() -> None:
    ops = [status("a", idle=1), status("b", idle=50)]
    assert [s.id for s in choose_operators(ops, assigned_id="b")] == ["b", "a"]


def test_busy_assigned_operator_is_not_offered() -> None:
    ops = [status("a", idle=1), status("b", Presence.ON_CALL)]
    assert [s.id for s in choose_operators(ops, assigned_id="b")] == ["a"]


def test_tried_operators_are_never_offered_again() -> None:
    ops = [status("a"), status("b")]
    assert [s.id for s in choose_operators(ops, exclude={"a"})] == ["b"]


presences = st.sampled_from(list(Presence))


@given(st.lists(st.tuples(presences, st.floats(0, 1e6)), max_size=30), st.sets(st.integers(0, 29)))
def test_only_available_untried_operators_in_a_stable_order(spec, tried_idx) -> None:  # type: ignore[no-untyped-def]
    ops = [status(f"op{i:02d}", p, idle) for i, (p, idle) in enumerate(spec)]
    tried = {f"op{i:02d}" for i in tried_idx}
    chosen = choose_operators(ops, exclude=tried)
    assert all(s.presence is Presence.AVAILABLE and s.id not in tried for s in chosen)
    assert len({s.id for s in chosen}) == len(chosen)
    expected = {s.id for s in ops if s.presence is Presence.AVAILABLE and s.id not in tried}
    assert {s.id for s in chosen} == expected
    assert [s.idle_since for s in chosen] == sorted(s.idle_since for s in chosen)
