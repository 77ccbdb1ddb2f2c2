"""Reading SIPp's short-message logs: what a caller and a phone saw."""

from __future__ import annotations

from sip_test_harness.sipp_logs import call_summary, parse_shortmsg, phone_report


def line(at: float, direction: str, call_id: str, cseq: str, first: str) -> str:
    return f"2026-11-23\t11:33:54.397086\t{at}\t{direction}\t{call_id}\tCSeq:{cseq}\t{first}"


CALLER_LOG = "\n".join(
    [
        line(10.0, "S", "1-1@h", "1 INVITE", "INVITE sip:+74952232222@127.0.0.1:5060 SIP/2.0"),
        line(10.001, "R", "1-1@h", "1 INVITE", "SIP/2.0 100 Trying"),
        line(11.0, "R", "1-1@h", "1 INVITE", "SIP/2.0 183 Session Progress"),
        line(12.5, "R", "1-1@h", "1 INVITE", "SIP/2.0 200 OK"),
        line(12.6, "R", "1-1@h", "1 INVITE", "SIP/2.0 200 OK"),  # retransmission
        line(12.501, "S", "1-1@h", "1 ACK", "ACK sip:127.0.0.1:5060 SIP/2.0"),
        line(14.0, "R", "1-1@h", "31810 BYE", "BYE sip:79161234567@127.0.0.1:5061 SIP/2.0"),
        line(14.001, "S", "1-1@h", "31810 BYE", "SIP/2.0 200 OK"),
        "2026-11-23\t11:33:5",  # a partial last line while SIPp writes
    ]
)


def test_caller_summary() -> None:
    summary = call_summary(parse_shortmsg(CALLER_LOG))
    assert summary.statuses == (100, 183, 200)
    assert summary.answered and summary.final_status == 200
    assert summary.time_to_answer == 2.5
    assert summary.hangup_by == "far_end"


def test_rejected_call_has_its_final_status() -> None:
    log = "\n".join(
        [
            line(1.0, "S", "c", "1 INVITE", "INVITE sip:1@h SIP/2.0"),
            line(1.1, "R", "c", "1 INVITE", "SIP/2.0 404 Not Found"),
        ]
    )
    summary = call_summary(parse_shortmsg(log))
    assert (summary.answered, summary.final_status, summary.hangup_by) == (False, 404, None)


PHONE_LOG = "\n".join(
    [
        line(1.0, "R", "opt-1", "5 OPTIONS", "OPTIONS sip:op1001@127.0.0.1:5071 SIP/2.0"),
        line(1.0, "S", "opt-1", "5 OPTIONS", "SIP/2.0 200 OK"),
        # answered, then the phone hangs up
        line(2.0, "R", "a", "7 INVITE", "INVITE sip:op1001@127.0.0.1:5071 SIP/2.0"),
        line(2.0, "R", "a", "7 INVITE", "INVITE sip:op1001@127.0.0.1:5071 SIP/2.0"),  # retrans
        line(2.0, "S", "a", "7 INVITE", "SIP/2.0 180 Ringing"),
        line(3.0, "S", "a", "7 INVITE", "SIP/2.0 200 OK"),
        line(3.0, "R", "a", "7 ACK", "ACK sip:127.0.0.1:5071 SIP/2.0"),
        line(5.0, "S", "a", "1 BYE", "BYE sip:asterisk@127.0.0.1:5060 SIP/2.0"),
        line(5.0, "R", "a", "1 BYE", "SIP/2.0 200 OK"),
        # cancelled while ringing
        line(6.0, "R", "b", "8 INVITE", "INVITE sip:op1001@127.0.0.1:5071 SIP/2.0"),
        line(6.0, "S", "b", "8 INVITE", "SIP/2.0 180 Ringing"),
        line(7.0, "R", "b", "8 CANCEL", "CANCEL sip:op1001@127.0.0.1:5071 SIP/2.0"),
        line(7.0, "S", "b", "8 CANCEL", "SIP/2.0 200 OK"),
        line(7.0, "S", "b", "8 INVITE", "SIP/2.0 487 Request Terminated"),
        # still ringing
        line(8.0, "R", "c", "9 INVITE", "INVITE sip:lop007@127.0.0.1:5100 SIP/2.0"),
    ]
)


def test_phone_report_counts_dialogs_not_messages() -> None:
    report = phone_report("op1001", parse_shortmsg(PHONE_LOG))
    assert report.invites == 3
    assert (report.answered, report.completed, report.cancelled, report.busy) == (1, 1, 1, 0)
    assert report.in_progress == 1
    first, second, third = report.calls
    assert first.ended_by == "phone" and first.answered_at == 3.0
    assert second.rejected_with == 487 and second.finished
    assert not third.finished and report.invites_to("lop007") == 1


def test_stray_dialogs_on_the_callers_port_are_ignored() -> None:
    log = "\n".join(
        [
            line(1.0, "S", "1-99@h", "1 INVITE", "INVITE sip:1@h SIP/2.0"),
            line(1.1, "R", "old-call", "1 INVITE", "SIP/2.0 200 OK"),  # an earlier, killed caller's
            line(1.2, "R", "old-call", "2 BYE", "BYE sip:x@h SIP/2.0"),
        ]
    )
    summary = call_summary(parse_shortmsg(log))
    assert (summary.statuses, summary.answered, summary.hangup_by) == ((), False, None)
