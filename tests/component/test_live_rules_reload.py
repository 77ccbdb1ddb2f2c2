"""Hot reload refuses rules that loop or strand callers, by every trigger (issue 13.4).

The file watch, SIGHUP and `POST /api/rules/reload` all go through `LiveRules.reload`;
the watch is driven here for real (it polls the file), the others by their trigger name.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from router.config.live_rules import LiveRules, ReloadResult
from router.config.rules import load_rules

GOOD = """skills: {paid: Paid services}
operators:
  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {paid: 3}}
lines:
  - {id: moscow, numbers: "+74952232222"}
routes:
  main:
    - {name: all, then: {skills: {need: [paid]}}}
"""
LOOP = GOOD.replace("then: {skills: {need: [paid]}}", "then: {routes: main}")
NOBODY = GOOD.replace(
    "operators:\n  - {id: op1001, name: Anna, endpoint: PJSIP/op1001, skills: {paid: 3}}",
    "operators: []",
)


def _live(tmp_path: Path) -> LiveRules:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return LiveRules(path, load_rules(path))


@pytest.mark.parametrize("trigger", ["SIGHUP", "api"])
async def test_a_looping_edit_is_refused_and_the_old_rules_stay(
    tmp_path: Path, trigger: str
) -> None:
    live = _live(tmp_path)
    before = live.version
    live.path.write_text(LOOP, encoding="utf-8")
    result = await live.reload(trigger)
    assert not result.ok and not result.changed
    assert result.version == before == live.version
    (error,) = result.errors
    assert f"{live.path}:8:34: routes.main[0].then.routes: route lists main -> main" in error
    rejected = live.describe()["last_rejected"]
    assert isinstance(rejected, dict) and rejected["trigger"] == trigger


async def test_the_file_watch_refuses_a_file_without_operators(tmp_path: Path) -> None:
    live = _live(tmp_path)
    before = live.version
    reloaded = asyncio.Event()
    reload = live.reload

    async def reload_and_tell(trigger: str) -> ReloadResult:
        result = await reload(trigger)
        reloaded.set()
        return result

    live.reload = reload_and_tell  # type: ignore[method-assign]
    watcher = asyncio.create_task(live.watch(interval=0.02))
    try:
        live.path.write_text(NOBODY, encoding="utf-8")
        async with asyncio.timeout(10):
            await reloaded.wait()
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
    assert live.version == before
    assert live.last_rejected is not None
    assert live.last_rejected.trigger == "file change"
    (error,) = live.last_rejected.errors
    assert ":2:1: operators: no operators: no call could ever be answered" in error


async def test_a_reload_with_warnings_goes_live_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live = _live(tmp_path)
    spare = "  spare:\n    - {name: x, then: {skills: {need: [paid]}}}\n"
    live.path.write_text(GOOD + spare, "utf-8")
    with caplog.at_level(logging.WARNING, logger="router.config.live_rules"):
        result = await live.reload("api")
    assert result.ok and result.changed
    warnings = live.describe()["warnings"]
    assert isinstance(warnings, list)
    (warning,) = warnings
    assert ":9:3: routes.spare: route list 'spare' is not used" in warning
    assert "routes.spare: warning: route list 'spare' is not used" in caplog.text
