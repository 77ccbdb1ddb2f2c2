"""AGI mode's presence rules (domain/queue_presence.py): the board and app_queue's member
pauses kept in step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.domain.calls import RingResult
from router.domain.operators import Presence, PresenceChange
from router.domain.presence import HELD_BY_A_CALL, decide_request
from router.domain.queue_presence import (
    NOT_PAUSED,
    OFFLINE_REASON,
    PBX_REASON,
    AppQueuePause,
    adopt,
    app_queue_pause,
    resync,
    ring_result,
    same_pause,
    wanted_in_app_queue,
)

LUNCH = AppQueuePause(True, "lunch")


def test_an_operator_is_paused_while_any_membership_is() -> None:
    assert app_queue_pause([NOT_PAUSED, LUNCH, AppQueuePause(True, "x")]) == LUNCH
    assert app_queue_pause([NOT_PAUSED, NOT_PAUSED]) == NOT_PAUSED
    assert app_queue_pause([]) == NOT_PAUSED


def test_a_pause_without_a_reason_shows_the_pbx_as_its_reason() -> None:
    assert app_queue_pause([AppQueuePause(True, None)]) == AppQueuePause(True, PBX_REASON)


@pytest.mark.parametrize(
    ("presence", "reason", "wanted"),
    [
        (Presence.AVAILABLE, None, NOT_PAUSED),
        (Presence.RINGING, None, NOT_PAUSED),
        (Presence.ON_CALL, None, NOT_PAUSED),
        (Presence.WRAP_UP, None, NOT_PAUSED),
        (Presence.PAUSED, "no_answer", AppQueuePause(True, "no_answer")),
        (Presence.OFFLINE, None, AppQueuePause(True, OFFLINE_REASON)),
    ],
)
def test_what_app_queue_should_have_for_each_board_state(
    presence: Presence, reason: str | None, wanted: AppQueuePause
) -> None:
    assert wanted_in_app_queue(presence, reason) == wanted


def test_a_pause_waiting_for_the_call_to_end_pauses_the_member_at_once() -> None:
    pending = PresenceChange(Presence.PAUSED, "lunch")
    assert wanted_in_app_queue(Presence.ON_CALL, None, pending) == LUNCH


def test_a_pause_from_the_phone_shows_on_the_board_with_its_reason() -> None:
    assert adopt(Presence.AVAILABLE, None, None, LUNCH) == PresenceChange(Presence.PAUSED, "lunch")
    # another reason than the board's: app_queue's
    assert adopt(Presence.PAUSED, "break", None, LUNCH) == PresenceChange(Presence.PAUSED, "lunch")


def test_an_unpause_from_the_phone_makes_the_operator_ready() -> None:
    assert adopt(Presence.PAUSED, "lunch", None, NOT_PAUSED) == PresenceChange(Presence.AVAILABLE)
    assert adopt(Presence.OFFLINE, None, None, NOT_PAUSED) == PresenceChange(Presence.AVAILABLE)


def test_the_echo_of_what_the_router_sent_changes_nothing() -> None:
    assert adopt(Presence.PAUSED, "no_answer", None, AppQueuePause(True, "no_answer")) is None
    assert adopt(Presence.OFFLINE, None, None, AppQueuePause(True, OFFLINE_REASON)) is None
    assert adopt(Presence.WRAP_UP, None, None, NOT_PAUSED) is None
    pending = PresenceChange(Presence.PAUSED, "lunch")
    assert adopt(Presence.ON_CALL, None, pending, LUNCH) is None


def test_resync_pushes_what_could_not_be_sent() -> None:
    got = resync(Presence.AVAILABLE, None, None, LUNCH, unsent=True)
    assert got == ("push", NOT_PAUSED)


def test_resync_adopts_a_pause_app_queue_has() -> None:
    got = resync(Presence.AVAILABLE, None, None, LUNCH, unsent=False)
    assert got == ("adopt", PresenceChange(Presence.PAUSED, "lunch"))


def test_resync_pushes_the_boards_pause_app_queue_forgot() -> None:
    # Asterisk restarted: app_queue has every member unpaused
    got = resync(Presence.PAUSED, "no_answer", None, NOT_PAUSED, unsent=False)
    assert got == ("push", AppQueuePause(True, "no_answer"))


def test_resync_of_agreeing_states_does_nothing() -> None:
    assert resync(Presence.AVAILABLE, None, None, NOT_PAUSED, unsent=True) is None
    assert resync(Presence.PAUSED, "lunch", None, LUNCH, unsent=False) is None


def test_only_a_ring_that_lasted_rang_out() -> None:
    assert ring_result(15.0, 15) is RingResult.NO_ANSWER
    # a PBX queue ringing 10 s while the router's ring timeout is 15 s
    assert ring_result(10.0, 15) is RingResult.NO_ANSWER
    assert ring_result(4.6, 6) is RingResult.NO_ANSWER  # a short ring timeout, less slack
    assert ring_result(0.2, 15) is RingResult.BUSY  # refused, busy or unreachable
    assert ring_result(2.0, 15) is RingResult.BUSY
    assert ring_result(4.0, 6) is RingResult.BUSY


REASONS = st.sampled_from([None, "lunch", "no_answer", PBX_REASON, OFFLINE_REASON])
PAUSES = st.builds(AppQueuePause, st.booleans(), REASONS)
PENDING = st.one_of(
    st.none(),
    st.builds(PresenceChange, st.sampled_from([Presence.PAUSED, Presence.OFFLINE]), REASONS),
)


@given(st.sampled_from(list(Presence)), REASONS, PENDING, PAUSES)
def test_what_the_board_adopts_is_what_app_queue_has_so_nothing_bounces_back(
    presence: Presence,
    reason: str | None,
    pending: PresenceChange | None,
    app: AppQueuePause,
) -> None:
    """After the board takes app_queue's pause (the one rule of domain/presence.py: now,
    or pending while a call holds the operator), the board wants for app_queue exactly
    what app_queue has: the router sends nothing back, no ping-pong."""
    app = app_queue_pause([app])
    if presence not in HELD_BY_A_CALL:
        pending = None
    change = adopt(presence, reason, pending, app)
    if change is not None:
        decision = decide_request(presence, change)
        if decision.now is not None:
            presence, reason, pending = decision.now.presence, decision.now.reason, None
        else:
            pending = decision.pending
    wanted = wanted_in_app_queue(presence, reason, pending)
    assert same_pause(wanted, app), (wanted, app)
