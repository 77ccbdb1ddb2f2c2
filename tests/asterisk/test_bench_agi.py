"""The AGI-mode benchmark's own smoke test (sip_test_harness/bench_agi_e2e.py): a few calls
of each of its kinds through the sandbox, to keep the harness from rotting. It asserts
what the benchmark counts (every call decided by the router, the manager rung for a known
caller, the menu answered by the key SIPp sent), never a timing."""

from __future__ import annotations

import pytest

from sip_test_harness.bench_agi_e2e import KINDS, AgiBench, markdown, speaking_mix
from sip_test_harness.bench_e2e import ModeResult, one_run
from sip_test_harness.load.mix import parse_mix
from sip_test_harness.load.report import LoadReport
from sip_test_harness.sandbox import Sandbox

pytestmark = pytest.mark.asterisk
RATE, SECONDS, OPERATORS = 2.0, 3.0, 20


def _complete(run: LoadReport) -> None:
    summary = run.table()
    assert run.offered == 6 and run.failed == 0, summary
    assert (run.leftover_channels, run.leftover_bridges) == (0, 0), summary
    assert run.ring_ms["p50"] is not None and run.asterisk_cpu_ms_per_call is not None, summary


@pytest.mark.timeout(240)
async def test_every_kind_of_the_agi_benchmark_runs_and_is_counted(sandbox: Sandbox) -> None:
    agi = await one_run("agi", RATE, SECONDS, parse_mix(speaking_mix(), "<agi>"), OPERATORS)
    _complete(agi)
    assert agi.lost == 0 and agi.answered == 6, agi.table()
    assert agi.agi_decisions == 6 and agi.agi_targets == {"queue": 6}, agi.table()
    assert agi.router_cpu_ms_per_call is not None and agi.router_rss_mb, agi.table()
    runs: dict[str, LoadReport] = {}
    for kind in KINDS:
        mix = parse_mix(kind.mix, kind.label)
        runs[kind.label] = run = await one_run(
            kind.mode, RATE, SECONDS, mix, OPERATORS, ivr=kind.ivr, managers=kind.managers
        )
        _complete(run)
    queue, known, menu = (runs[kind.label] for kind in KINDS)
    assert queue.agi_decisions is None
    assert known.agi_targets == {"operator": 6}, known.table()
    assert known.answered == 6 and known.menu_keys == 0, known.table()
    assert menu.agi_targets == {"queue": 6}, menu.table()
    assert menu.menu_keys == 6, menu.table()  # the key SIPp sent, not the menu's default
    ramp = {"queue": ModeResult("queue", {RATE: queue}), "agi": ModeResult("agi", {RATE: agi})}
    kinds: dict[str, LoadReport | str] = dict(runs)
    text = "\n".join(markdown(AgiBench(ramp, kinds, ["0", "0"]), rates=(RATE,)))
    assert "highest clean rate: AGI mode 2, app_queue 2 calls/s" in text
