"""The waiting-callers benchmark's pure parts: its rules, Asterisk's complaints, the table."""

from __future__ import annotations

from pathlib import Path

from router.config.rules import load_rules
from router.domain.routing import QueueTarget
from sip_test_harness.bench_waiting import asterisk_complaints, rules_yaml
from sip_test_harness.bench_waiting_report import WaitingResult, markdown
from sip_test_harness.load.files import ROUTER_DID


def test_every_caller_waits_in_one_queue_with_announcements(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(30), encoding="utf-8")
    rules = load_rules(path)
    line = rules.line_for(ROUTER_DID)
    assert line is not None
    (route,) = rules.routes[line.routes]
    assert route.when.always and route.then == QueueTarget("waiting")
    queue = rules.queues["waiting"]
    assert (queue.max_wait_s, queue.announce_every_s) == (3600, 30)
    assert queue.announcement == "queue-your-call-is-important"
    assert [op.id for op in rules.operators] == ["lop001"]


def test_asterisk_complaints_grouped_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "messages.log"
    old = "[2026-11-23 21:00:00] WARNING[11] chan_pjsip.c: before the run\n"
    rtp = "res_rtp_asterisk.c: No RTP ports remaining. Can't setup media stream for this call."
    log.write_text(
        old
        + f"[2026-11-23 22:41:00] ERROR[123][C-00000a1b] {rtp}\n"
        + f"[2026-11-23 22:41:01] ERROR[124][C-00000a1c] {rtp}\n"
        + "[2026-11-23 22:41:02] VERBOSE[125] pbx.c: Executing\n"
        + "[2026-11-23 22:41:03] WARNING[126] res_pjsip.c: Endpoint 42 gone\n",
        encoding="utf-8",
    )
    assert asterisk_complaints(log, len(old)) == [
        f"2x ERROR {rtp}",
        "1x WARNING res_pjsip.c: Endpoint N gone",
    ]
    assert asterisk_complaints(tmp_path / "absent.log", 0) == []


def test_the_section_shows_targets_and_misses() -> None:
    result = WaitingResult(1000, 50.0, 30.0, waiting=498, rss_per_caller_kb=61.5)
    result.sip_failures = {"503": 502}
    result.lag_p99_ms = 15.0
    text = "\n".join(markdown(result))
    assert text.startswith("## 1,000 callers waiting")
    assert "498 of 1000" in text and "502 × 503" in text
    assert "61.5 KB" in text and "≤ 50 KB (**missed**)" in text
    assert "≤ 15 ms" in text and "≤ 20 ms (met)" in text
