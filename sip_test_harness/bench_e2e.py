"""End-to-end A/B benchmark: the same mix at the same rates through four call paths.

(1) plain ``Dial()``, (2) ``app_queue``, (3) the minimal ARI app (the floor), (4)
clinic-router with a generated rules file. Rates ramp up, interleaved (every mode at
one rate before the next rate); a mode stops climbing at its first run with a failed
or lost call or a leftover. Each run holds the sandbox lock only for itself.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from sip_test_harness.errors import HarnessError
from sip_test_harness.load.cli import router_api, start_router
from sip_test_harness.load.mix import Mix, parse_mix
from sip_test_harness.load.report import LoadReport
from sip_test_harness.load.runner import LoadOptions, run_load
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_config import BENCH_ARI_APP

MODES = ("dial", "queue", "minimal", "router")
LABELS = {
    "dial": "plain Dial()",
    "queue": "app_queue",
    "minimal": "minimal ARI app",
    "router": "clinic-router",
}
# the baseline call (asterisk-behaviour §10): answered at once, the caller hangs up after 1 s
BENCH_MIX = {
    "streams": [{"name": "bench", "share": 1, "caller": "unknown", "hangup_after": 1.0}],
    "operators": {"answer_delay_s": 0.0, "hold_s": 60.0, "never_answer_share": 0.0},
}


@dataclass
class ModeResult:
    """Every run of one mode, by rate."""

    mode: str
    runs: dict[float, LoadReport] = field(default_factory=dict)
    stopped_at: float | None = None  # first rate with a failure

    def clean(self, rate: float) -> bool:
        run = self.runs.get(rate)
        return run is not None and _clean(run)

    @property
    def best_rate(self) -> float | None:
        good = [rate for rate in self.runs if self.clean(rate)]
        return max(good) if good else None


def _clean(run: LoadReport) -> bool:
    return (
        run.failed == 0
        and not run.lost
        and run.leftover_channels == 0
        and run.leftover_bridges == 0
    )


async def _wait_app(ari: AriAccess, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession(headers={"Authorization": ari.authorization()}) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise HarnessError(f"minimal ARI app exited with {process.returncode}")
            async with session.get(f"{ari.url}/applications/{BENCH_ARI_APP}") as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.05)
    raise HarnessError("minimal ARI app did not register with ARI in 10 s")


async def one_run(mode: str, rate: float, seconds: float, mix: Mix, operators: int) -> LoadReport:
    """One run of one mode at one rate (the caller holds the sandbox lock)."""
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    options = LoadOptions(
        rate=rate,
        calls=max(1, round(rate * seconds)),
        mix=mix,
        operators=operators,
        mode=mode,
        asterisk_pid=sandbox.pid(),
        ivr=False,  # straight to the queue, as the baselines
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"clinic-bench-{mode}-"))
    quiet: Callable[[str], None] = lambda line: None  # noqa: E731
    try:
        if mode == "router":
            router = await start_router(workdir, options)
            try:
                options = LoadOptions(**{**options.__dict__, "app_pid": router.pid})
                return await run_load(
                    options, router=router_api(router), workdir=workdir, progress=quiet
                )
            finally:
                await router.stop()
        if mode == "minimal":
            app = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sip_test_harness.minimal_ari", "--operators", str(operators)
            )
            try:
                await _wait_app(sandbox.ari_access, app)
                options = LoadOptions(**{**options.__dict__, "app_pid": app.pid})
                return await run_load(options, workdir=workdir, progress=quiet)
            finally:
                app.terminate()
                await app.wait()
        return await run_load(options, workdir=workdir, progress=quiet)
    finally:
        await asyncio.to_thread(sandbox.hangup_all)
        shutil.rmtree(workdir, ignore_errors=True)


def ramp(
    rates: Sequence[float],
    seconds: float,
    operators: int = 200,
    progress: Callable[[str], None] = print,
) -> dict[str, ModeResult]:
    """Interleaved A/B runs, rate by rate; a mode leaves the ramp at its first failure."""
    mix = parse_mix(BENCH_MIX, "<bench mix>")
    results = {mode: ModeResult(mode) for mode in MODES}
    for rate in rates:
        for mode in MODES:
            result = results[mode]
            if result.stopped_at is not None:
                continue
            try:
                with sandbox_lock():
                    run = asyncio.run(one_run(mode, rate, seconds, mix, operators))
            except (HarnessError, aiohttp.ClientError, OSError) as exc:
                progress(f"{LABELS[mode]:<16} {rate:>5} calls/s: run failed: {exc}")
                result.stopped_at = rate
                continue
            result.runs[rate] = run
            if not _clean(run):
                result.stopped_at = rate
            progress(
                f"{LABELS[mode]:<16} {rate:>5} calls/s: failed {run.failed}, lost {run.lost}, "
                f"setup p50/p99 {run.setup_ms['p50']}/{run.setup_ms['p99']} ms, Asterisk "
                f"{run.asterisk_cpu_ms_per_call} ms/call, app "
                f"{run.router_cpu_ms_per_call or run.app_cpu_ms_per_call} ms/call, leftovers "
                f"{run.leftover_channels}/{run.leftover_bridges}"
            )
    return results
