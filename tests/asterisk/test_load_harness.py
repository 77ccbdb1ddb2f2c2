"""The load harness's own self-test: 20 calls at 2 calls/s through the router.

Keeps ``python -m sip_test_harness load`` from rotting: the default mix (known,
unknown, anonymous callers, abandons, DTMF), the operators' UAS, the router's
journeys, CPU sampling and the leftover check all run, and the report is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sip_test_harness.load.cli import router_api, start_router
from sip_test_harness.load.report import JSON_KEYS
from sip_test_harness.load.runner import LoadOptions, run_load
from sip_test_harness.sandbox import Sandbox

pytestmark = pytest.mark.asterisk


@pytest.mark.timeout(150)
async def test_twenty_calls_lose_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    options = LoadOptions(rate=2, calls=20, operators=20, asterisk_pid=sandbox.pid())
    router = await start_router(tmp_path, options)
    try:
        options = LoadOptions(**{**options.__dict__, "app_pid": router.pid})
        result = await run_load(options, router=router_api(router), workdir=tmp_path)
    finally:
        await router.stop()
    data = json.loads(result.to_json())
    assert set(JSON_KEYS) <= set(data)
    assert set(data["setup_ms"]) == {"p50", "p90", "p99"}
    summary = result.table()
    assert data["offered"] == 20, summary
    assert data["failed"] == 0, summary
    assert data["lost"] == 0, summary
    assert (data["leftover_channels"], data["leftover_bridges"]) == (0, 0), summary
    assert data["answered"] + data["abandoned"] == 20, summary
    assert data["answered"] > 0 and data["setup_ms"]["p50"] is not None, summary
    assert data["router_cpu_ms_per_call"] is not None and data["router_rss_mb"], summary
    assert data["asterisk_cpu_ms_per_call"] is not None, summary
