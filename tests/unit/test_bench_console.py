"""The console benchmark's pure parts: reading a board, matching events to frames."""

from __future__ import annotations

from pathlib import Path

from router.config.rules import load_rules
from sip_test_harness.bench_console import PROBE_DID, PROBE_OPERATOR, rules_yaml
from sip_test_harness.bench_console_frames import (
    Event,
    Frame,
    WindowResult,
    ari_time,
    latencies,
    parse_board,
    percentile,
    table,
)
from sip_test_harness.load.files import ROUTER_DID

BOARD = """<div class="tile" data-queue="paid">
  <div class="big"><span data-waiting-count>500</span> waiting</div></div>
<div class="tile" data-queue="probe">
  <div class="name">probe</div>
  <div class="big"><span data-waiting-count>1</span> waiting</div></div>
<div class="card state-on_call" data-operator="lop180" data-state="on_call"></div>
<div class="card state-paused" data-operator="lop181" data-state="paused"></div>
<div class="card state-on_call" data-operator="lop001" data-state="on_call"></div>
"""


def test_a_board_gives_the_probe_count_and_the_watched_operators_talking() -> None:
    frame = parse_board(BOARD, 10.0, frozenset({"lop180", "lop181"}))
    assert frame == Frame(10.0, 1, frozenset({"lop180"}))
    no_probe_tile = BOARD.replace('data-queue="probe"', 'data-queue="other"')
    assert parse_board(no_probe_tile, 10.0, frozenset()).probe_waiting == 0


def test_each_event_is_matched_to_the_first_later_frame_that_shows_it() -> None:
    frames = [
        Frame(1.00, 0, frozenset()),
        Frame(1.30, 0, frozenset({"lop180"})),  # an operator change, not the join
        Frame(1.50, 1, frozenset({"lop180"})),
        Frame(3.20, 0, frozenset({"lop180"})),
    ]
    events = [
        Event("join", 1.10, "c1"),
        Event("answer", 1.25, "lop180"),
        Event("hangup", 3.00, "c1"),
        Event("answer", 3.10, "lop181"),  # never shown: left out
    ]
    found = latencies(events, frames)
    assert {k: [round(v, 2) for v in vs] for k, vs in found.items()} == {
        "join": [0.4],
        "hangup": [0.2],
        "answer": [0.05],
    }


def test_ari_timestamps_and_percentiles() -> None:
    assert ari_time("2026-12-03T14:55:01.123+0000") == 1796309701.123
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(100)], 99) == 98.0


def test_the_table_gives_extra_cpu_against_no_console() -> None:
    base = WindowResult(0, events=10, cpu_s=1.0, wall_s=10.0)
    one = WindowResult(1, events=10, shown=10, expected=10, cpu_s=1.5, wall_s=10.0)
    one.latency_ms = {"join": [100.0], "hangup": [50.0], "answer": [20.0]}
    lines = table([base, one])
    assert lines[2].startswith("| 0 | 10 | 0/0 | — / — |")
    assert "| 1 | 10 | 10/10 | 50 / 100 | 100 | 50 | 20 |" in lines[3]
    assert "| 15.0 | +5.0 | 150 |" in lines[3]


def test_the_rules_keep_the_probe_queue_to_one_operator(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(["lop001", "lop002", PROBE_OPERATOR]), encoding="utf-8")
    rules = load_rules(path)
    assert rules.line_for(ROUTER_DID) is not None
    probe = rules.line_for(PROBE_DID)
    assert probe is not None and probe.routes == "probe"
    skills = {op.id: set(op.skills) for op in rules.operators}
    assert skills == {"lop001": {"paid"}, "lop002": {"paid"}, PROBE_OPERATOR: {"probe"}}
