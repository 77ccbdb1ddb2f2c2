"""AGI mode in the load harness and its benchmark (sip_test_harness/bench_agi_e2e.py):
the rules and patients a run writes, the speaking caller, how the router's decisions
are counted, and the report section."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from router.config.rules import load_rules
from sip_test_harness.bench_agi_e2e import AgiBench, markdown
from sip_test_harness.bench_e2e import ModeResult, _clean
from sip_test_harness.load.files import StreamFiles, did_for, patients_csv, rules_yaml
from sip_test_harness.load.mix import MixError, Stream, parse_mix
from sip_test_harness.load.observe import Journey, decision_targets, menu_keys, steps_of
from sip_test_harness.load.report import LoadReport
from sip_test_harness.load.runner import caller_ports
from sip_test_harness.load.scenarios import AUDIO_PCAP, caller_xml
from sip_test_harness.sandbox_agi import AGI_DID
from sip_test_harness.sandbox_config import CALLER_PORTS


def test_agi_rules_are_the_sandbox_agi_line_and_pass_the_routers_checks(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(["lop001", "lop002"], agi=True, managers=True), encoding="utf-8")
    rules = load_rules(path)
    line = rules.line("load")
    assert line is not None and AGI_DID in line.numbers and line.mode == "agi"
    assert [r.name for r in rules.routes["load"]] == ["manager", "known", "others"]
    assert did_for("agi", 0, ["lop001"]) == AGI_DID
    assert caller_ports("agi") == CALLER_PORTS  # the trunk, whose context has the AGI DID


def test_the_ari_load_rules_are_unchanged_without_agi_or_managers(tmp_path: Path) -> None:
    text = rules_yaml(["lop001"], ivr=False)
    assert "mode:" not in text and "manager" not in text


def test_managers_are_assigned_in_turn_and_only_when_asked() -> None:
    stream = Stream("k", 1, caller="known")
    files = [StreamFiles(stream, Path("k.csv"), ("79160000000", "79160000001", "79160000002"))]
    rows = list(csv.DictReader(io.StringIO(patients_csv(files, ["lop001", "lop002"]))))
    assert [r["assigned_operator"] for r in rows] == ["lop001", "lop002", "lop001"]
    assert rows[0]["phones"] == "+79160000000"
    assert patients_csv(files).splitlines()[0] == "patient_id,name,phones"


def test_a_speaking_caller_plays_speech_after_the_ack_and_before_its_keys() -> None:
    xml = caller_xml(Stream("menu", 1, dtmf="1", audio=True))
    ack, speech, key = (
        xml.index("CSeq: 1 ACK"),
        xml.index(str(AUDIO_PCAP)),
        xml.index("dtmf_2833_1"),
    )
    assert ack < speech < key
    assert str(AUDIO_PCAP) not in caller_xml(Stream("quiet", 1))


def test_audio_must_be_a_boolean() -> None:
    with pytest.raises(MixError, match="audio"):
        parse_mix({"streams": [{"name": "a", "share": 1, "audio": "yes"}]}, "<mix>")


def _journey(*steps: tuple[str, object]) -> Journey:
    return Journey("79990000001", "answered", "+79990000001", tuple(steps))


def test_decisions_and_menu_keys_are_counted_from_the_journeys() -> None:
    journeys = [
        _journey(("arrived", {}), ("agi_decision", {"target": "operator"})),
        _journey(
            ("menu", {"action": "play", "pressed": ["1"]}), ("agi_decision", {"target": "queue"})
        ),
        _journey(("menu", {"action": "play", "pressed": []})),  # default: no key, no decision
    ]
    assert steps_of(journeys, "agi_decision") == 2
    assert decision_targets(journeys) == {"operator": 1, "queue": 1}
    assert menu_keys(journeys) == 1


def _report(mode: str, decided: int | None, offered: int = 10) -> LoadReport:
    return LoadReport(
        mode=mode,
        offered=offered,
        answered=offered,
        abandoned=0,
        failed=0,
        lost=0,
        cps=1.0,
        setup_ms={"p50": 2.0, "p90": 3.0, "p99": 4.0},
        ring_ms={"p50": 12.0, "p90": 15.0, "p99": 20.0},
        service_level_20s=1.0,
        router_cpu_ms_per_call=5.0,
        asterisk_cpu_ms_per_call=15.0,
        leftover_channels=0,
        leftover_bridges=0,
        agi_decisions=decided,
        agi_targets={"queue": decided} if decided else {},
    )


def test_an_agi_run_is_clean_only_when_the_router_decided_every_call() -> None:
    assert _clean(_report("agi", 10))
    assert not _clean(_report("agi", 9))  # one call served by the dialplan's fallback
    assert _clean(_report("queue", None))


def test_cpu_and_ringing_are_compared_where_both_modes_were_clean() -> None:
    queue, agi = ModeResult("queue"), ModeResult("agi")
    for rate in (25.0, 50.0):
        queue.runs[rate] = _report("queue", None)
    agi.runs[25.0], agi.runs[50.0] = _report("agi", 10), _report("agi", 6)  # 50: fallback
    text = "\n".join(markdown(AgiBench({"queue": queue, "agi": agi}, {}, ["1"]), (25.0, 50.0)))
    assert "at 25 calls/s (the highest rate where both were clean): Asterisk CPU" in text
    assert "at 50 calls/s: Asterisk CPU" not in text


def test_the_section_has_both_modes_their_ratios_and_the_load() -> None:
    queue, agi = ModeResult("queue"), ModeResult("agi")
    queue.runs[50.0] = _report("queue", None)
    agi.runs[50.0], agi.runs[75.0] = _report("agi", 10), _report("agi", 9)
    agi.stopped_at = 75.0
    bench = AgiBench({"queue": queue, "agi": agi}, {"known": _report("agi", 10)}, ["1", "2"])
    text = "\n".join(markdown(bench, rates=(50.0, 75.0)))
    assert "## AGI mode against app_queue" in text
    assert "highest clean rate: AGI mode 50, app_queue 50 calls/s (1.00×)" in text
    assert "Asterisk + router 1.33×" in text  # (15 + 5) / 15
    assert "+0.0 ms at p50" in text
    assert "| 75 | AGI mode + app_queue | **no** |" in text
    assert "at 50 calls/s: Asterisk CPU per call 1.00×" in text  # both clean there
    assert "10/10 (queue 10)" in text
    assert "at the start: 1; at the end: 2" in text
