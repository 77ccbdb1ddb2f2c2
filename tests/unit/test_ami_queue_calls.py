"""AGI-mode calls through app_queue's AMI events: what each sequence records."""

from __future__ import annotations

from router.ami.protocol import action_bytes, parse_message
from router.ami.queue_calls import Connected, Ended, QueueCall, Ring, Step, follow
from router.domain.callback_policy import MissReason
from router.domain.calls import Outcome, RingResult

ME = "1764770000.1"


def ev(name: str, **fields: str) -> dict[str, str]:
    return {"Event": name, "Uniqueid": ME, **fields}


def run(*events: tuple[float, dict[str, str]]) -> list[object]:
    call = QueueCall(ME, started=0.0)
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


def test_ami_messages_and_actions() -> None:
    raw = b"Event: Hangup\r\nUniqueid: 1.2\r\nCause-txt: Normal Clearing\r\n\r\n"
    assert parse_message(raw) == {
        "Event": "Hangup",
        "Uniqueid": "1.2",
        "Cause-txt": "Normal Clearing",
    }
    assert action_bytes("Login", "cr-1", {"Username": "u"}).endswith(b"Username: u\r\n\r\n")
