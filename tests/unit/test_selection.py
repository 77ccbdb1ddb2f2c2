from hypothesis import given
from hypothesis import strategies as st

from router.domain.calls import RingResult
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.selection import (
    RECHECK_FIRST_S,
    RECHECK_MAX_S,
    Unreachable,
    choose_operators,
    next_recheck,
    offerable,
    skipped_again,
    stays_tried,
)


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


def test_only_a_phone_that_could_not_be_dialled_leaves_the_operator_untried() -> None:
    assert not stays_tried(RingResult.UNAVAILABLE)
    for result in (RingResult.NO_ANSWER, RingResult.BUSY, RingResult.ANSWERED, RingResult.FAILED):
        assert stays_tried(result)


def test_a_skipped_operator_is_offered_again_after_the_recheck_time() -> None:
    skipped = {"a": skipped_again(None, now=100.0)}
    assert offerable({"a", "b"}, ["b"], skipped, now=100.5) == frozenset()
    assert next_recheck({"a", "b"}, skipped, now=100.5) == 100.0 + RECHECK_FIRST_S
    assert offerable({"a", "b"}, ["b"], skipped, now=100.0 + RECHECK_FIRST_S) == {"a"}
    assert next_recheck({"a"}, skipped, now=100.0 + RECHECK_FIRST_S) is None


def test_a_skipped_operator_not_eligible_sets_no_recheck() -> None:
    assert next_recheck({"b"}, {"a": skipped_again(None, now=0.0)}, now=0.0) is None


def test_the_recheck_backs_off_to_a_ceiling() -> None:
    skip = None
    waits = []
    for _ in range(6):
        skip = skipped_again(skip, now=0.0)
        waits.append(skip.back_at())
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert waits[-1] == RECHECK_MAX_S


def test_tried_beats_skipped() -> None:
    skipped = {"a": Unreachable(at=0.0)}
    assert offerable({"a"}, ["a"], skipped, now=1e6) == frozenset()
