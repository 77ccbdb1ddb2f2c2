"""Which misses become callback tasks, and when the first attempt is due."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from router.domain.calendar import Calendar, TimeRange
from router.domain.callback_policy import CallbackPolicy, MissReason, decide_callback

NOW = datetime(2026, 12, 29, 21, 30, tzinfo=ZoneInfo("Europe/Moscow"))  # a Tuesday evening
HOURS = Calendar("calls", weekly={d: (TimeRange(time(9), time(20)),) for d in range(5)})


def test_short_abandon_is_a_misdial() -> None:
    policy = CallbackPolicy(min_abandon_s=5)
    short = decide_callback(policy, MissReason.ABANDONED, waited_s=2, now=NOW, calendar=None)
    long = decide_callback(policy, MissReason.ABANDONED, waited_s=8, now=NOW, calendar=None)
    assert not short.create and "under min_abandon_s 5" in short.reason
    assert long.create and long.first_attempt_at == NOW


def test_reasons_not_listed_create_nothing() -> None:
    policy = CallbackPolicy(create_on=frozenset({MissReason.NO_OPERATOR}))
    decision = decide_callback(policy, MissReason.AFTER_HOURS, waited_s=0, now=NOW, calendar=None)
    assert not decision.create


def test_first_attempt_waits_for_calling_hours() -> None:
    decision = decide_callback(
        CallbackPolicy(), MissReason.AFTER_HOURS, waited_s=0, now=NOW, calendar=HOURS
    )
    assert decision.first_attempt_at == datetime(
        2026, 12, 30, 9, 0, tzinfo=ZoneInfo("Europe/Moscow")
    )


def test_withheld_numbers_cannot_be_called_back() -> None:
    decision = decide_callback(
        CallbackPolicy(),
        MissReason.NO_OPERATOR,
        waited_s=30,
        now=NOW,
        calendar=None,
        caller_known_number=False,
    )
    assert not decision.create
