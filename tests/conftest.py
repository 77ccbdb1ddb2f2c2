"""The whole suite's conftest: how pytest-xdist (make test, two workers by default) shares
the files between its workers.

``--dist loadfile``: a test file runs whole on one worker, its module fixtures and the
order of its tests as in one process. Files that share something outside their worker's
sandbox join one work unit, run on one worker in turn: the stock-PBX tests share the apt
cache and the Debian roots they build once (tests/asterisk/stock_root.py; none do today).
Every other file is its own unit.

The controller hands the units out in collection order, the next one to whichever worker
runs dry: so the collection is ordered longest unit first (``COST_S``, measured), and
the short ones fill the ends. (A conftest here, not a ``-p`` plugin: xdist's controller
reads it, and ``tests`` need not be importable beforehand.)
"""

from __future__ import annotations

from typing import Any

import pytest

# test file -> the work unit it joins. None today: test_doctor.py and test_stock_pbx.py
# each run their stock PBX on their own worker's spare address (127.0.N.2), and only
# test_stock_pbx.py installs packages (one file: one worker, its apt cache never shared).
SHARED: dict[str, str] = {}

# Seconds a unit took (make test TEST_WORKERS=2, --junitxml, on the 2-core machine the
# suite is measured on; docs/dev/testing.md): the longest go first. Rounded; refresh them when a
# file grows by minutes. A sandbox file not named here counts NEW_SANDBOX_FILE_S; any
# other file (unit, component, engine: seconds) counts nothing and keeps its place.
COST_S: dict[str, float] = {
    "tests/asterisk/test_stock_pbx.py": 830,  # 510 at load 7-10; more with a fresh clone's roots
    "tests/asterisk/test_callback_dispatch.py": 260,
    "tests/asterisk/test_ivr_and_queues.py": 205,
    "tests/asterisk/test_agi_callbacks.py": 195,
    "tests/asterisk/test_console_browser.py": 175,
    "tests/asterisk/test_agi_mode.py": 170,
    "tests/asterisk/test_generated_day.py": 160,
    "tests/asterisk/test_replay_model_error.py": 125,
    "tests/asterisk/test_callback_eligibility.py": 95,
    "tests/asterisk/test_restart_waiting.py": 95,
    "tests/component/test_patients_import.py": 90,
    "tests/asterisk/test_core_resilience.py": 80,
    "tests/deploy/test_install_script.py": 70,
    "tests/asterisk/test_presence.py": 65,
    "tests/asterisk/test_callback_capture.py": 60,
    "tests/asterisk/test_console_reports_browser.py": 50,  # 45-48 s alone at load 1
    "tests/asterisk/test_bench_agi.py": 50,
    "tests/asterisk/test_core_routing.py": 45,
    "tests/asterisk/test_skills.py": 40,
    "tests/asterisk/test_bench_console.py": 40,
    "tests/asterisk/test_agi_presence.py": 30,
    "tests/asterisk/test_load_harness.py": 30,
}
NEW_SANDBOX_FILE_S = 60.0


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file, or the shared unit that file joins."""
    path = nodeid.split("::", 1)[0]
    return SHARED.get(path, path)


def cost_of(unit: str) -> float:
    if unit in COST_S:
        return COST_S[unit]
    return NEW_SANDBOX_FILE_S if unit.startswith("tests/asterisk/") else 0.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest unit first; a unit's tests together, in their own order. Every worker
    collects, and they must agree: the order depends on the node ids alone."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(unit_of(item.nodeid), index)
    keyed = sorted(
        enumerate(items),
        key=lambda pair: (
            -cost_of(unit_of(pair[1].nodeid)),
            first[unit_of(pair[1].nodeid)],
            pair[0],
        ),
    )
    items[:] = [item for _, item in keyed]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    # hand the units out in collection order (longest first), not by their test count
    config.option.loadscopereorder = False

    class SharedFileScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return SharedFileScheduling(config, log)
