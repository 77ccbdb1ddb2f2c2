"""The load operators: never-answering and rejecting shares, and the UAS XML that routes them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip_test_harness.bench_e2e import BENCH_MIX
from sip_test_harness.load import files, scenarios, stats
from sip_test_harness.load.mix import MixError, OperatorMix, load_mix, parse_mix
from sip_test_harness.load.report import summarise
from sip_test_harness.sipp_logs import parse_shortmsg

STREAMS = [{"name": "a", "share": 1}]


def operators(**values: Any) -> OperatorMix:
    return parse_mix({"streams": STREAMS, "operators": values}, "m.yaml").operators


def test_reject_share_defaults_to_none_and_the_default_mix_rejects_some() -> None:
    assert operators().reject_share == 0.0
    assert load_mix().operators.reject_share == 0.05
    assert parse_mix(BENCH_MIX, "<bench mix>").operators.reject_share == 0.0


@pytest.mark.parametrize("value", [-0.1, 1, 1.5, "0.1", True, None, float("nan")])
def test_a_bad_reject_share_is_named(value: object) -> None:
    with pytest.raises(MixError, match=r"^m\.yaml: operators\.reject_share: a number from 0"):
        operators(reject_share=value)


def test_a_bad_never_answer_share_is_named() -> None:
    with pytest.raises(MixError, match=r"operators\.never_answer_share: a number from 0"):
        operators(never_answer_share="lots")


def test_shares_that_leave_nobody_to_answer_are_refused() -> None:
    with pytest.raises(MixError, match=r"operators\.reject_share: .* must be below 1"):
        operators(never_answer_share=0.5, reject_share=0.5)
    assert operators(never_answer_share=0.5, reject_share=0.45).reject_share == 0.45


def test_rejecting_operators_come_just_before_the_never_answering_ones() -> None:
    ops = files.load_operators(50)
    never = scenarios.never_answering(ops, 0.05)
    assert never == ["lop049", "lop050"]
    assert scenarios.rejecting(ops, 0.05, never) == ["lop047", "lop048"]
    assert scenarios.rejecting(ops, 0.0, never) == []
    assert scenarios.rejecting(ops, 0.01, []) == ["lop050"]  # at least one


def test_the_last_operator_left_to_answer_never_rejects() -> None:
    ops = files.load_operators(2)
    never = scenarios.never_answering(ops, 0.05)
    assert never == ["lop002"]
    assert scenarios.rejecting(ops, 0.05, never) == []
    assert scenarios.rejecting(files.load_operators(1), 0.5, []) == []


@given(
    count=st.integers(1, 200),
    never_share=st.floats(0, 0.99),
    reject_share=st.floats(0, 0.99),
)
def test_rejecting_is_disjoint_from_never_and_leaves_someone(
    count: int, never_share: float, reject_share: float
) -> None:
    ops = files.load_operators(count)
    never = scenarios.never_answering(ops, never_share)
    reject = scenarios.rejecting(ops, reject_share, never)
    assert not set(reject) & set(never)
    assert set(reject) <= set(ops)
    if len(never) < count:
        assert len(never) + len(reject) < count


def _ereg(xml: str, variable: str) -> re.Pattern[str]:
    """The regexp the UAS applies to each INVITE to set ``variable``."""
    root = ET.fromstring(xml)
    for ereg in root.iter("ereg"):
        if ereg.get("assign_to") == variable:
            return re.compile(ereg.get("regexp", ""))
    raise AssertionError(f"no ereg assigns {variable}")


def _invite(user: str) -> str:
    return f"INVITE sip:{user}@127.0.0.1:5100 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060\r\n"


def test_the_uas_routes_each_operator_by_its_request_line() -> None:
    xml = scenarios.operators_xml(load_mix().operators, ["lop049", "lop050"], ["lop047", "lop048"])
    never, reject = _ereg(xml, "never"), _ereg(xml, "reject")
    for user in ("lop047", "lop048"):
        assert reject.search(_invite(user)) and not never.search(_invite(user))
    for user in ("lop049", "lop050"):
        assert never.search(_invite(user)) and not reject.search(_invite(user))
    for user in ("lop001", "lop046", "lop0470"):
        assert not never.search(_invite(user)) and not reject.search(_invite(user))
    # the From header (a caller's number) never selects a behaviour
    assert not reject.search("OPTIONS sip:x SIP/2.0\r\nTo: <sip:lop047@h>\r\n")


def test_without_rejecting_operators_nobody_matches() -> None:
    xml = scenarios.operators_xml(load_mix().operators, ["lop050"])
    reject = _ereg(xml, "reject")
    assert not any(reject.search(_invite(op)) for op in files.load_operators(200))


def test_rejecting_operators_ring_then_answer_486_and_take_the_ack() -> None:
    xml = scenarios.operators_xml(load_mix().operators, [], ["lop050"])
    root = ET.fromstring(xml)
    steps = list(root)
    labels = {step.get("id") for step in steps if step.tag == "label"}
    jumps = {step.get(attr) for step in steps for attr in ("next", "ontimeout") if step.get(attr)}
    assert jumps <= labels  # every branch lands on a label
    at = next(i for i, s in enumerate(steps) if s.tag == "label" and s.get("id") == "reject")
    ring = steps[at + 1]
    want = str(round(scenarios.REJECT_AFTER_S * 1000))
    assert (ring.get("request"), ring.get("timeout"), ring.get("ontimeout")) == (
        "CANCEL",
        want,
        "busy",
    )
    busy = next(i for i, s in enumerate(steps) if s.tag == "label" and s.get("id") == "busy")
    assert "SIP/2.0 486 Busy Here" in (steps[busy + 1].text or "")
    assert steps[busy + 1].get("retrans") == "500"
    assert [s.get("request") for s in steps[busy + 2 : busy + 4]] == ["CANCEL", "ACK"]


def test_a_rejected_ring_is_a_ring_not_an_answer_nor_a_caller_failure(tmp_path: Path) -> None:
    # the caller's side: the router answers at once, the caller hangs up after talking
    caller = parse_shortmsg(
        "d\tt\t100.000\tS\tc@h\tCSeq:1 INVITE\tINVITE sip:74952232222@h SIP/2.0\n"
        "d\tt\t100.010\tR\tc@h\tCSeq:1 INVITE\tSIP/2.0 200 OK\n"
    )
    (tmp_path / "c.log").write_text("c@h 79990000001\n")
    # lop047 rings and declines (486, its ACK); the router then rings lop001, who answers
    phone = parse_shortmsg(
        "d\tt\t100.100\tR\tx@h\tCSeq:1 INVITE\tINVITE sip:lop047@h SIP/2.0\n"
        "d\tt\t100.100\tS\tx@h\tCSeq:1 INVITE\tSIP/2.0 180 Ringing\n"
        "d\tt\t101.100\tS\tx@h\tCSeq:1 INVITE\tSIP/2.0 486 Busy Here\n"
        "d\tt\t101.101\tR\tx@h\tCSeq:1 ACK\tACK sip:lop047@h SIP/2.0\n"
        "d\tt\t101.600\tS\tx@h\tCSeq:1 INVITE\tSIP/2.0 486 Busy Here\n"
        "d\tt\t101.200\tR\ty@h\tCSeq:1 INVITE\tINVITE sip:lop001@h SIP/2.0\n"
        "d\tt\t101.400\tS\ty@h\tCSeq:1 INVITE\tSIP/2.0 200 OK\n"
    )
    (tmp_path / "p.log").write_text(
        "INVITE x@h <sip:+79990000001@h>;tag=1\nINVITE y@h <sip:+79990000001@h>;tag=2\n"
    )
    side = stats.operator_side(phone, tmp_path / "p.log")
    assert (side.invites, side.answered) == (2, 1)
    calls = stats.caller_calls("s", caller, tmp_path / "c.log")
    stats.attach_operator_side(calls, side)
    assert calls[0].ring_ms == pytest.approx(100, abs=0.01)  # the rejected ring counts
    assert calls[0].operator_answer_at == pytest.approx(101.4)
    result = summarise("router", calls, {"s": 1}, set(), 0)
    assert (result.answered, result.failed) == (1, 0)
