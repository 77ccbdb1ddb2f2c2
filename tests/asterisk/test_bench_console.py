"""The console benchmark's smoke run (`python -m sip_test_harness.bench_console --short`):
real callers waiting and talking, probe callers and an operator answering, 0, 1 and 3
wallboards open; every event Asterisk reported reaches every open wallboard."""

from __future__ import annotations

import pytest

from sip_test_harness.bench_console import ConsoleOptions, measure, report
from sip_test_harness.sandbox import Sandbox

pytestmark = pytest.mark.asterisk


@pytest.mark.timeout(400)
async def test_every_event_shows_on_every_open_wallboard(sandbox: Sandbox) -> None:
    options = ConsoleOptions.short()
    result = await measure(options)
    summary = "\n".join(report(result))
    assert [w.consoles for w in result.windows] == list(options.consoles), summary
    # per window: each probe caller joins and hangs up, each released operator answers
    planned = 2 * options.probes + options.answers
    for window in result.windows:
        assert window.events == planned, summary
        assert window.shown == window.expected == planned * window.consoles, summary
        assert window.cpu_s > 0, summary
        if window.consoles:
            assert set(window.latency_ms) == {"join", "hangup", "answer"}, summary
            assert all(0 <= ms < 5000 for ms in window.all_ms()), summary
