"""The generated clinic day's pure parts: the day, its scaling, its SIPp XML, and the
check of the report against what SIPp saw."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from sip_test_harness import day_check
from sip_test_harness.day import add_arguments
from sip_test_harness.day_plan import (
    FOREVER,
    PROFILES,
    ScaledTimers,
    day_rules,
    generate_day,
    injection_csv,
    patients_csv,
)
from sip_test_harness.day_scenarios import caller_xml
from sip_test_harness.sipp_logs import parse_shortmsg
from tests.unit.test_harness_sipp_logs import line


def test_the_day_has_its_size_its_peak_and_its_seed() -> None:
    plan = generate_day(1600, seed=16, scale=60)
    again = generate_day(1600, seed=16, scale=60)
    assert plan.calls == again.calls and len(plan.calls) == 1600
    assert generate_day(1600, seed=17, scale=60).calls != plan.calls
    per_hour = Counter(int(c.at_s * plan.scale // 3600) for c in plan.calls)
    assert max(per_hour, key=lambda h: per_hour[h]) == 1  # 09:00-10:00 on a Monday
    assert per_hour[1] > 2 * per_hour[11]
    assert all(0 <= c.at_s < plan.length_s for c in plan.calls)
    assert plan.length_s == len(PROFILES["monday"]) * 3600 / 60  # 12 hours in 12 minutes
    assert [c.at_s for c in plan.calls] == sorted(c.at_s for c in plan.calls)
    assert len({c.number for c in plan.calls}) == 1600  # one number per call
    known = sum(1 for c in plan.calls if c.caller == "known")
    assert 0.55 < known / 1600 < 0.65
    assert all(c.key == "" for c in plan.calls if c.caller == "known")  # no menu for them
    impatient = sum(1 for c in plan.calls if c.patience != FOREVER)
    assert 0.25 < impatient / 1600 < 0.35


def test_every_time_is_the_days_divided_by_the_scale() -> None:
    slow, fast = generate_day(100, scale=10), generate_day(100, scale=100)
    assert [c.at_s * 10 for c in slow.calls] == pytest.approx(
        [c.at_s * 100 for c in fast.calls], abs=0.1
    )  # ms rounding
    assert [p * 10 for p in slow.patience_s] == pytest.approx([p * 100 for p in fast.patience_s])
    assert sorted(slow.operator_mix.hold_s) == pytest.approx(
        [t * 10 for t in sorted(fast.operator_mix.hold_s)]
    )


def test_router_timers_are_scaled_and_held_at_the_routers_floors() -> None:
    assert ScaledTimers.for_scale(1) == ScaledTimers(20, 600, 5, (0, 60), 30)
    assert ScaledTimers.for_scale(2) == ScaledTimers(10, 300, 2, (0, 30), 15)
    # whole seconds with floors: ring 5, max wait 10, menu 1, patient ring 5
    assert ScaledTimers.for_scale(60) == ScaledTimers(5, 10, 1, (0, 1), 5)
    assert ScaledTimers.for_scale(600).retry_after_min == (0, 0)


def test_the_files_carry_every_call() -> None:
    plan = generate_day(50, seed=3)
    rows = injection_csv(plan).splitlines()
    assert rows[0] == "SEQUENTIAL" and len(rows) == 51
    first = plan.calls[0]
    number, did, at_ms, key, patience, _ = rows[1].split(";")
    assert (number, int(at_ms), int(patience)) == (
        first.number,
        round(first.at_s * 1000),
        first.patience,
    )
    assert key == (first.key or "-1") and did == "74952232222"
    known = [c for c in plan.calls if c.caller == "known"]
    assert len(patients_csv(plan).splitlines()) == len(known) + 1
    rules = day_rules(plan)
    assert rules.count("endpoint: PJSIP/lop") == 17 and "max_attempts: 2" in rules


def test_caller_xml_branches_on_every_key_and_patience_bucket() -> None:
    plan = generate_day(300)
    xml = caller_xml(plan)
    assert "{{" not in xml
    for key in ("1", "2", "9"):
        assert f'<label id="press_{key}"/>' in xml
    waits = xml.count('<recv request="BYE" timeout=')
    assert waits == len(plan.patience_s) + 1  # one per bucket, and holding on for ever
    assert '<pause variable="arrive"/>' in xml


def test_unknown_profile_and_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        generate_day(10, profile="friday")
    with pytest.raises(ValueError):
        generate_day(0)
    for scale in (0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite scale"):
            generate_day(10, scale=scale)


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (["--scale", "0"], "argument --scale: a finite number above 0, not 0"),
        (["--scale", "nan"], "argument --scale: a finite number above 0, not nan"),
        (["--scale", "x"], "argument --scale: a number, not 'x'"),
        (["--calls", "0"], "argument --calls: at least 1, not 0"),
        (["--calls", "1.5"], "argument --calls: a whole number, not '1.5'"),
        (["--operators", "0"], "argument --operators: 1-200, not 0"),
        (["--operators", "201"], "argument --operators: 1-200, not 201"),
    ],
)
def test_the_commands_options_are_checked_by_argparse(
    given: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="day")
    add_arguments(parser)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(given)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"day: error: {error}"
    args = parser.parse_args(["--scale", "0.5", "--calls", "1", "--operators", "200"])
    assert (args.scale, args.calls, args.operators) == (0.5, 1, 200)


def _caller_trace() -> list[str]:
    lines = []
    # a: answered by an operator, then the operator hangs up (the PBX sends BYE)
    # b: hangs up (BYE) while waiting; c: CANCELs before the answer (never answered:
    # failed); d: the clinic hangs up on them (max wait)
    for cid, t in (("a", 1.0), ("b", 2.0), ("d", 4.0)):
        lines.append(line(t, "S", cid, "1 INVITE", "INVITE sip:74952232222@h SIP/2.0"))
        lines.append(line(t + 0.1, "R", cid, "1 INVITE", "SIP/2.0 200 OK"))
    lines.append(line(3.0, "S", "c", "1 INVITE", "INVITE sip:74952232222@h SIP/2.0"))
    lines.append(line(3.5, "S", "c", "1 CANCEL", "CANCEL sip:74952232222@h SIP/2.0"))
    lines.append(line(3.6, "R", "c", "1 INVITE", "SIP/2.0 487 Request Terminated"))
    lines.append(line(9.0, "R", "a", "2 BYE", "BYE sip:x@h SIP/2.0"))
    lines.append(line(5.0, "S", "b", "2 BYE", "BYE sip:x@h SIP/2.0"))
    lines.append(line(9.0, "R", "d", "2 BYE", "BYE sip:x@h SIP/2.0"))
    return lines


def test_sipp_side_of_the_day() -> None:
    pairs = [("a", "79160000001"), ("b", "79160000002"), ("c", "79990000003"), ("d", "79990000004")]
    calls = day_check.caller_calls(parse_shortmsg("\n".join(_caller_trace())), pairs)
    operators = parse_shortmsg(
        "\n".join(
            [
                line(1.5, "R", "op-a", "1 INVITE", "INVITE sip:lop001@h SIP/2.0"),
                line(1.6, "S", "op-a", "1 INVITE", "SIP/2.0 200 OK"),
                # a callback for b rings an operator with b's number: after b's call
                line(20.0, "R", "op-b", "1 INVITE", "INVITE sip:lop002@h SIP/2.0"),
                line(20.1, "S", "op-b", "1 INVITE", "SIP/2.0 200 OK"),
            ]
        )
    )
    op_pairs = [("op-a", "<sip:+79160000001@h>"), ("op-b", "<sip:+79160000002@h>")]
    day_check.mark_answered(calls, day_check.operator_answers(operators, op_pairs))
    patients = parse_shortmsg(
        "\n".join(
            [
                line(21.0, "R", "p-b", "1 INVITE", "INVITE sip:79160000002@h SIP/2.0"),
                line(21.5, "S", "p-b", "1 INVITE", "SIP/2.0 200 OK"),
                line(22.0, "R", "p-d", "1 INVITE", "INVITE sip:+79990000004@h SIP/2.0"),
            ]
        )
    )
    seen = day_check.sipp_day(calls, patients)
    assert (seen.placed, seen.answered, seen.abandoned, seen.ended_by_clinic, seen.failed) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert seen.missed_numbers == {"9160000002", "9990000004"}
    assert seen.dialled_back == seen.missed_numbers
    assert seen.patients_answered == {"9160000002"}
    calls_row = {
        "offered": 4, "answered": 1, "abandoned": 1, "no_operator": 1,
        "callback_promised": 0, "message": 0,
    }  # fmt: skip
    misses = {
        "misses": 2, "called_back": 1, "open_now": 0, "tasks_created": 2, "worked_share": 1.0,
    }  # fmt: skip
    assert all(a.ok for a in day_check.agreements(calls_row, misses, seen))
    assert day_check.every_miss_worked(misses, seen) == []
    worse = {**misses, "open_now": 1, "worked_share": 0.5}
    assert len(day_check.every_miss_worked(worse, seen)) == 2
    off = day_check.agreements({**calls_row, "answered": 4}, misses, seen)
    assert [a.figure for a in off if not a.ok] == ["answered"]


def test_tolerance_is_one_percent_or_two_calls() -> None:
    assert day_check.tolerance(50) == 2 and day_check.tolerance(1600) == 16
