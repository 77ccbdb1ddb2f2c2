"""End-to-end A/B benchmark: the same mix at the same rates through several call paths.

(1) plain ``Dial()``, (2) ``app_queue``, (3) the minimal ARI app (the floor), (4)
clinic-router with a generated rules file (``MODES``); and (5) clinic-router in AGI mode,
the router deciding over FastAGI and following the call over AMI while the shipped AGI
dialplan and ``app_queue`` serve it (docs/agi-mode.md), ramped against ``app_queue`` by
sip_test_harness/bench_agi_e2e.py. Rates ramp up, interleaved (every mode at one rate
before the next rate); a mode stops climbing at its first run with a failed or lost
call or a leftover, and AGI mode also at a call the router did not decide (the
dialplan's timeout fallback). Each run holds the sandbox lock only for itself.
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

from router.config.rules import load_rules
from sip_test_harness.errors import HarnessError
from sip_test_harness.instance import current
from sip_test_harness.load.cli import router_api, start_router
from sip_test_harness.load.mix import Mix, parse_mix
from sip_test_harness.load.report import LoadReport
from sip_test_harness.load.runner import LoadOptions, prepare, run_load
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.probe import AriAccess
from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sandbox_agi import AGI_PORT, apply_queues
from sip_test_harness.sandbox_config import BENCH_ARI_APP

MODES = ("dial", "queue", "minimal", "router")
LABELS = {
    "dial": "plain Dial()",
    "queue": "app_queue",
    "minimal": "minimal ARI app",
    "router": "clinic-router",
    "agi": "AGI mode + app_queue",
}
# app_queue's ring timeout per member in the AGI-mode queues (the bench queue's: 15 s)
AGI_QUEUE_RING_S = 15
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
        # AGI mode: every call decided by the router, none by the dialplan's fallback
        and (run.agi_decisions is None or run.agi_decisions == run.offered)
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


async def start_agi_router(workdir: Path, options: LoadOptions, sandbox: Sandbox) -> RouterProcess:
    """The router in AGI mode on the run's rules (its FastAGI server and AMI on the
    sandbox instance's address), known callers imported, the rules' queues in app_queue."""
    prepare(options, workdir)
    host = current().host
    settings = f"agi:\n  enabled: true\n  host: {host}\n  port: {AGI_PORT}\n  ami_host: {host}\n"
    router = RouterProcess(
        workdir, rules=workdir / "rules.yaml", log_level="info", extra_settings=settings
    )
    imported = await asyncio.to_thread(
        router.cli,
        "patients",
        "import",
        str(workdir / "patients.csv"),
        "--config",
        str(router.config),
    )
    if imported.returncode != 0:
        raise HarnessError(f"patients import failed: {imported.stderr or imported.stdout}")
    rules = load_rules(workdir / "rules.yaml")
    await asyncio.to_thread(apply_queues, sandbox, rules, AGI_QUEUE_RING_S)
    try:
        await router.start()
    except AssertionError as exc:  # never healthy: its log's tail says why
        await router.stop()
        raise HarnessError(f"the AGI-mode router did not start: {exc}") from exc
    return router


async def one_run(
    mode: str,
    rate: float,
    seconds: float,
    mix: Mix,
    operators: int,
    *,
    ivr: bool = False,
    managers: bool = False,
) -> LoadReport:
    """One run of one mode at one rate (the caller holds the sandbox lock); ``ivr`` and
    ``managers`` as in LoadOptions (the benchmark sends everyone straight to the queue)."""
    sandbox = Sandbox()
    await asyncio.to_thread(sandbox.up)
    options = LoadOptions(
        rate=rate,
        calls=max(1, round(rate * seconds)),
        mix=mix,
        operators=operators,
        mode=mode,
        asterisk_pid=sandbox.pid(),
        ivr=ivr,
        managers=managers,
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"clinic-bench-{mode}-"))
    quiet: Callable[[str], None] = lambda line: None  # noqa: E731
    try:
        if mode in ("router", "agi"):
            if mode == "agi":
                router = await start_agi_router(workdir, options, sandbox)
            else:
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
    modes: Sequence[str] = MODES,
    mix_data: dict[str, object] | None = None,
) -> dict[str, ModeResult]:
    """Interleaved A/B runs, rate by rate; a mode leaves the ramp at its first failure.
    ``mix_data``: the call mix as parsed YAML (default BENCH_MIX)."""
    mix = parse_mix(mix_data or BENCH_MIX, "<bench mix>")
    results = {mode: ModeResult(mode) for mode in modes}
    for rate in rates:
        for mode in modes:
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
            progress(f"{LABELS[mode]:<16} {rate:>5} calls/s: {describe(run)}")
    return results


def describe(run: LoadReport) -> str:
    """One progress line's figures of a run."""
    text = (
        f"failed {run.failed}, lost {run.lost}, "
        f"setup p50/p99 {run.setup_ms['p50']}/{run.setup_ms['p99']} ms, "
        f"ringing p50/p99 {run.ring_ms['p50']}/{run.ring_ms['p99']} ms, Asterisk "
        f"{run.asterisk_cpu_ms_per_call} ms/call, app "
        f"{run.router_cpu_ms_per_call or run.app_cpu_ms_per_call} ms/call, leftovers "
        f"{run.leftover_channels}/{run.leftover_bridges}"
    )
    if run.agi_decisions is not None:
        text += f", decided over AGI {run.agi_decisions}/{run.offered}"
    if run.menu_keys:
        text += f", menu keys {run.menu_keys}"
    return text
