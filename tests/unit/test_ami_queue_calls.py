"""AGI-mode calls through app_queue's AMI events: what each sequence records."""

from __future__ import annotations

from router.ami.protocol import action_bytes, parse_message
from router.ami.queue_calls import Connected, Ended, QueueCall, Ring, Step, follow
from router.ami.records import Recent
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, RingResult

ME = "1764770000.1"


def ev(name: str, **fields: str) -> dict[str, str]:
    return {"Event": name, "Uniqueid": ME, **fields}


def run(*events: tuple[float, dict[str, str]], deciding: bool = False) -> list[object]:
    call = QueueCall(ME, started=0.0, deciding=deciding)
    out: list[object] = []
    for now, event in events:
        out += follow(call, event, now)
    return out


def test_answered_in_the_queue_after_a_no_answer() -> None:
    effects = run(
        (1, ev("QueueCallerJoin", Queue="clinic-paid", Position="1")),
        (1, ev("AgentCalled", Interface="PJSIP/op1001", DestUniqueid="a1")),
        # AgentRingNoAnswer's RingTime is in milliseconds, AgentConnect's in seconds
        (
            16,
            ev("AgentRingNoAnswer", Interface="PJSIP/op1001", DestUniqueid="a1", RingTime="15000"),
        ),
        (17, ev("AgentCalled", Interface="PJSIP/op1002", DestUniqueid="a2")),
        (19, ev("AgentConnect", Interface="PJSIP/op1002", DestUniqueid="a2", RingTime="2")),
        (19, ev("QueueCallerLeave", Queue="clinic-paid")),
        (40, ev("Hangup", Cause="16")),
    )
    assert effects == [
        Step("waiting", {"queue": "clinic-paid", "position": 1}),
        Step("ringing", {"endpoint": "PJSIP/op1001"}),
        Ring("PJSIP/op1001", RingResult.NO_ANSWER, 15_000),
        Step("ringing", {"endpoint": "PJSIP/op1002"}),
        Ring("PJSIP/op1002", RingResult.ANSWERED, 2_000),
        Connected("PJSIP/op1002"),
        Ended(Outcome.ANSWERED),
    ]


def test_abandon_while_queued_is_one_miss_and_nothing_after() -> None:
    effects = run(
        (1, ev("QueueCallerJoin", Queue="clinic-paid", Position="1")),
        (31, ev("QueueCallerAbandon", Queue="clinic-paid", HoldTime="30")),
        (31, ev("QueueCallerLeave", Queue="clinic-paid")),
        (31, ev("Hangup", Cause="16")),
    )
    assert effects[-1] == Ended(Outcome.ABANDONED, MissReason.ABANDONED, 30.0, "abandoned")
    assert sum(isinstance(e, Ended) for e in effects) == 1


def test_a_wait_that_runs_out_is_a_max_wait_miss() -> None:
    effects = run(
        (1, ev("QueueCallerJoin", Queue="clinic-paid", Position="1")),
        (61, ev("QueueCallerLeave", Queue="clinic-paid")),
        (61, ev("VarSet", Variable="QUEUESTATUS", Value="TIMEOUT")),
        (64, ev("Hangup", Cause="16")),
    )
    assert effects[-1] == Ended(Outcome.NO_OPERATOR, MissReason.MAX_WAIT, 60.0, "max_wait")


def test_a_queue_nobody_can_serve_is_no_operator_not_an_abandon() -> None:
    effects = run(
        (1, ev("VarSet", Variable="QUEUESTATUS", Value="JOINEMPTY")),
        (4, ev("Hangup", Cause="16")),
    )
    assert isinstance(effects[-1], Ended) and effects[-1].outcome is Outcome.NO_OPERATOR


def test_the_manager_answers_over_dial() -> None:
    effects = run(
        (0.2, ev("DialBegin", DestChannel="PJSIP/op1004-0000002a", DestUniqueid="m1")),
        (
            3,
            ev(
                "DialEnd",
                DestChannel="PJSIP/op1004-0000002a",
                DestUniqueid="m1",
                DialStatus="ANSWER",
            ),
        ),
        (30, ev("Hangup")),
    )
    assert effects == [
        Step("ringing", {"endpoint": "PJSIP/op1004"}),
        Ring("PJSIP/op1004", RingResult.ANSWERED, 2800),
        Connected("PJSIP/op1004"),
        Ended(Outcome.ANSWERED),
    ]


def test_hanging_up_while_the_manager_rings_is_an_abandon() -> None:
    effects = run(
        (0.2, ev("DialBegin", DestChannel="PJSIP/op1004-0000002a", DestUniqueid="m1")),
        (
            9,
            ev(
                "DialEnd",
                DestChannel="PJSIP/op1004-0000002a",
                DestUniqueid="m1",
                DialStatus="CANCEL",
            ),
        ),
        (9, ev("Hangup")),
    )
    assert effects[-1] == Ended(Outcome.ABANDONED, MissReason.ABANDONED, 9.0, "abandoned")


def test_queue_member_dials_are_not_counted_twice() -> None:
    effects = run(
        (1, ev("QueueCallerJoin", Queue="clinic-paid", Position="1")),
        (1, ev("DialBegin", DestChannel="PJSIP/op1001-01", DestUniqueid="a1")),
        (1, ev("AgentCalled", Interface="PJSIP/op1001", DestUniqueid="a1")),
        (3, ev("DialEnd", DestChannel="PJSIP/op1001-01", DestUniqueid="a1", DialStatus="BUSY")),
    )
    assert [e for e in effects if isinstance(e, Step) and e.kind == "ringing"] == [
        Step("ringing", {"endpoint": "PJSIP/op1001"})
    ]


def test_a_call_the_plain_queue_took_before_the_decision_is_answered_and_late() -> None:
    """CR_AGI_TIMEOUT sent the call on while the router was still deciding: the record is
    what the plain queue did with it, with the decision marked late, and no miss."""
    effects = run(
        (4.2, ev("QueueCallerJoin", Queue="clinic-router-fallback", Position="1")),
        (4.2, ev("AgentCalled", Interface="PJSIP/op1003", DestUniqueid="b1")),
        (6.2, ev("AgentConnect", Interface="PJSIP/op1003", DestUniqueid="b1", RingTime="2")),
        (30, ev("Hangup", Cause="16")),
        deciding=True,
    )
    assert effects == [
        Step("agi_late", {"went_on": "clinic-router-fallback", "after_s": 4.2}),
        Step("waiting", {"queue": "clinic-router-fallback", "position": 1}),
        Step("ringing", {"endpoint": "PJSIP/op1003"}),
        Ring("PJSIP/op1003", RingResult.ANSWERED, 2_000),
        Connected("PJSIP/op1003"),
        Ended(Outcome.ANSWERED),
    ]


def test_hanging_up_before_the_decision_is_an_abandon_in_the_ivr() -> None:
    effects = run((2.5, ev("Hangup", Cause="16")), deciding=True)
    assert effects == [
        Step("abandoned", {"in": "agi"}),
        Ended(Outcome.ABANDONED, MissReason.ABANDONED, 2.5, "abandoned_in_ivr"),
    ]


def test_a_late_call_the_plain_queue_could_not_serve_is_a_max_wait_miss() -> None:
    effects = run(
        (4, ev("QueueCallerJoin", Queue="clinic-router-fallback", Position="1")),
        (4, ev("VarSet", Variable="QUEUESTATUS", Value="TIMEOUT")),
        (304, ev("QueueCallerLeave", Queue="clinic-router-fallback")),
        (310, ev("Hangup", Cause="16")),
        deciding=True,
    )
    assert effects[0] == Step("agi_late", {"went_on": "clinic-router-fallback", "after_s": 4.0})
    assert effects[-1] == Ended(Outcome.NO_OPERATOR, MissReason.MAX_WAIT, 300.0, "max_wait")


def test_ami_messages_and_actions() -> None:
    raw = b"Event: Hangup\r\nUniqueid: 1.2\r\nCause-txt: Normal Clearing\r\n\r\n"
    assert parse_message(raw) == {
        "Event": "Hangup",
        "Uniqueid": "1.2",
        "Cause-txt": "Normal Clearing",
    }
    assert action_bytes("Login", "cr-1", {"Username": "u"}).endswith(b"Username: u\r\n\r\n")


def test_events_nobody_follows_yet_are_kept_a_while_and_only_the_callers() -> None:
    """An AGI session read after its channel's events gets them (router/ami/records.py);
    operators' channels are not kept, and nothing is kept for long or without bound."""
    now = [0.0]
    recent = Recent(lambda: now[0], keep_s=30.0, max_events=3)
    caller = ev("Hangup", Linkedid=ME)
    recent.add(ME, caller)
    recent.add("op-leg", {"Event": "Hangup", "Uniqueid": "op-leg", "Linkedid": ME})
    assert len(recent) == 1 and recent.take(ME) == [caller] and recent.take(ME) == []
    for n in range(5):  # past max_events: the oldest go
        recent.add(f"c{n}", {"Event": "Hangup", "Uniqueid": f"c{n}"})
    assert len(recent) == 3 and recent.take("c0") == [] and recent.take("c4") != []
    now[0] = 31.0  # past keep_s: everything older goes with the next event
    recent.add("c9", {"Event": "Hangup", "Uniqueid": "c9"})
    assert recent.take("c2") == [] and len(recent.take("c9")) == 1
