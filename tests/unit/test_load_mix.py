"""The load harness's pure parts: mix parsing, scenario rendering, SIPp log joins."""

from __future__ import annotations

from pathlib import Path

import pytest

from sip_test_harness.load import files, scenarios, stats
from sip_test_harness.load.mix import MixError, load_mix, parse_mix
from sip_test_harness.load.report import JSON_KEYS, summarise
from sip_test_harness.sipp_logs import parse_shortmsg


def test_default_mix_loads_and_counts_add_up() -> None:
    mix = load_mix()
    assert sum(mix.counts(20).values()) == 20
    assert sum(mix.rates(2.0).values()) == pytest.approx(2.0)


def test_unknown_key_is_named() -> None:
    with pytest.raises(MixError, match=r"streams\[0\].*unknown key.*colour"):
        parse_mix({"streams": [{"name": "a", "share": 1, "colour": "red"}]}, "m.yaml")


def test_operator_branches_cover_every_bucket() -> None:
    mix = load_mix()
    xml = scenarios.operators_xml(mix.operators, ["lop019", "lop020"])
    assert "{{" not in xml and "lop019|lop020" in xml
    rings = len(mix.operators.answer_delay_s) + 1  # + the rejecting operators' ring
    assert xml.count('<recv request="CANCEL" timeout=') == rings
    assert xml.count('<recv request="BYE" timeout=') == len(mix.operators.hold_s)


def test_single_bucket_draws_nothing() -> None:
    mix = parse_mix({"streams": [{"name": "a", "share": 1}], "operators": {}}, "m")
    assert "<sample" not in scenarios.operators_xml(mix.operators, [])


def test_dial_mode_dids_name_the_operator() -> None:
    assert files.did_for("dial", 3, ["lop001", "lop002"]) == "90000200003"
    assert files.did_for("router", 3, []) == files.ROUTER_DID


def test_join_caller_and_operator_logs(tmp_path: Path) -> None:
    caller = parse_shortmsg(
        "d\tt\t100.000\tS\t1-9@h\tCSeq:1 INVITE\tINVITE sip:7495@h SIP/2.0\n"
        "d\tt\t100.005\tR\t1-9@h\tCSeq:1 INVITE\tSIP/2.0 200 OK\n"
    )
    (tmp_path / "c.log").write_text("1-9@h 79990000001\n")
    phone = parse_shortmsg(
        "d\tt\t100.020\tR\tx@h\tCSeq:1 INVITE\tINVITE sip:lop001@h SIP/2.0\n"
        "d\tt\t100.500\tS\tx@h\tCSeq:1 INVITE\tSIP/2.0 200 OK\n"
    )
    (tmp_path / "p.log").write_text("INVITE x@h <sip:+79990000001@h>;tag=1\n")
    calls = stats.caller_calls("s", caller, tmp_path / "c.log")
    stats.attach_operator_side(calls, stats.operator_side(phone, tmp_path / "p.log"))
    assert calls[0].setup_ms == pytest.approx(5, abs=0.01)
    assert calls[0].ring_ms == pytest.approx(20, abs=0.01)
    result = summarise("router", calls, {"s": 2}, set(), 0)
    assert (result.answered, result.failed, result.offered) == (1, 1, 2)
    assert set(JSON_KEYS) <= set(result.__dict__)
