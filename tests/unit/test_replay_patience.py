"""The replay's patience (Kaplan-Meier, the served as censored), talk times drawn by the
wait, callers who never wait, and several seeded replays averaged: hand-computed cases."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from router.domain.operators import Operator
from router.domain.replay.model import Arrival, Duty, OperatorModel, ReplaySettings, replay
from router.domain.replay.patience import Patience, estimate
from router.domain.replay.plan import Plan, Wait
from router.domain.replay.runs import mean_figures
from router.domain.reports.calls import call_figures

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
# 1 s gave up, 2 s served, 3 s gave up, 4 s served, 5 s gave up.
SEEN = [(1.0, True), (2.0, False), (3.0, True), (4.0, False), (5.0, True)]


def test_kaplan_meier_by_hand() -> None:
    p = estimate(SEEN)
    # At 1 s all 5 are at risk, one gives up: 4/5. At 3 s three are (3, 4, 5): x 2/3.
    # At 5 s one is, and gives up: 0.
    assert p.times == (1.0, 3.0, 5.0)
    assert p.survival == pytest.approx((0.8, 0.8 * 2 / 3, 0.0))
    assert p.mean_s == 15.0 / 3  # everyone's waits over the three who gave up


def test_a_served_callers_patience_is_drawn_above_their_wait() -> None:
    p, rnd = estimate(SEEN), random.Random(3)
    draws = [p.beyond(2.0, rnd) for _ in range(3000)]
    # Beyond 2 s: S(2) = 0.8; 3 s takes 0.8 - 0.533 of it (a third), 5 s the rest.
    assert set(draws) == {3.0, 5.0}
    assert 0.30 < draws.count(3.0) / len(draws) < 0.37
    # Past everyone who gave up: nothing longer was seen, so no longer than that moment.
    assert p.beyond(5.5, rnd) == 5.5


def test_no_patience_beyond_the_longest_seen_when_the_longest_gave_up() -> None:
    """The exponential draw used before gave a caller served after 0.2 s a patience of
    0.2 s + Exp(mean): often longer than anyone in the period waited before giving up
    (the sandbox runs' callers all hang up within 4.6 s; the mean was 6 s)."""
    p, rnd = estimate([(4.6, True), (0.2, False), (4.0, True), (1.0, False)]), random.Random(1)
    assert max(p.beyond(0.2, rnd) for _ in range(500)) == 4.6


def test_the_tail_beyond_the_longest_give_up_is_exponential() -> None:
    p, rnd = estimate([(1.0, True), (10.0, False)]), random.Random(2)
    assert p.mean_s == 11.0
    assert all(p.beyond(10.0, rnd) > 10.0 for _ in range(100))
    assert math.isinf(estimate([(3.0, False)]).beyond(3.0, rnd))  # nobody gave up
    assert math.isinf(Patience().beyond(0.0, rnd))


def operator(**kw: object) -> OperatorModel:
    return OperatorModel(Operator("op1", "1", "PJSIP/1"), **kw)  # type: ignore[arg-type]


def test_talk_is_drawn_from_callers_who_waited_about_as_long() -> None:
    talks = tuple(float(t) for t in range(20, 0, -1))  # the longer the wait, the shorter
    m, rnd = (
        operator(handle_s=talks, handle_waits_s=tuple(float(w) for w in range(20))),
        random.Random(4),
    )
    assert {m.talk_s(0.0, rnd) for _ in range(200)} == {20.0, 19.0, 18.0, 17.0, 16.0}
    assert {m.talk_s(30.0, rnd) for _ in range(200)} == {5.0, 4.0, 3.0, 2.0, 1.0}
    assert {m.talk_s(9.5, rnd) for _ in range(200)} == {12.0, 11.0, 10.0, 9.0, 8.0}
    # Without the waits (everyone's figures): any of them.
    assert len({operator(handle_s=talks).talk_s(0.0, rnd) for _ in range(500)}) == 20


def test_a_caller_who_never_waits_is_not_in_the_service_level() -> None:
    """'Call me back' from the menu: the rules end the call before any wait. The replay
    counted such callers as waited and not answered, 5 of 90 in the sandbox run: the
    service level 3.4 points low."""
    queue = Wait("queue q", 0, 60, ((0.0, frozenset({"op1"})),))
    arrivals = [Arrival("cb", 0, Plan((), "callback", True), reach_s=3.0),
                Arrival("q", 1, Plan((queue,), "no_operator", True))]  # fmt: skip
    models = [operator(answer_s=(1.0,), handle_s=(5.0,))]
    cb, q = replay(arrivals, models, Duty(lambda _o, _t: True), ReplaySettings(T0))
    assert (cb.outcome, cb.facts.waiting_at, q.outcome) == ("callback", None, "answered")
    figures = call_figures("replayed", [cb, q])
    assert (figures.waited, figures.service_level) == (1, 1.0)


def test_several_replays_are_averaged_figure_by_figure() -> None:
    runs = [
        {"key": "replayed", "offered": 90, "answered": 50, "service_level": 0.6, "asa_s": None},
        {"key": "replayed", "offered": 90, "answered": 53, "service_level": 0.5, "asa_s": 2.0},
    ]
    assert mean_figures(runs) == {
        "key": "replayed", "offered": 90, "answered": 51.5, "service_level": 0.55, "asa_s": 2.0,
    }  # fmt: skip
    with pytest.raises(ValueError):
        mean_figures([])
