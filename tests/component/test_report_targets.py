"""The reports' edges through the CLI, the API and the console: each queue measured against
its own `service_level_s` (from rollups or raw, the same figures), periods off the calendar
refused as bad input, the staffing goal's bounds, and CSV sections with no rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from api_support import TOKEN, serving
from cli_support import REPO, SECRETS, main_in_process
from console_support import Clock, add_users, browser, serving_console, sign_in

from router.config.live_rules import LiveRules
from router.config.rules import load_rules
from router.report_view import queue_targets
from router.storage import Store
from router.storage.models import CallRow
from router.storage.report_rollup_read import RolledReportSql
from router.storage.report_rollup_sql import Rollups

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, a Tuesday
NOW = T0 + timedelta(days=3)
DAY = "from=2026-12-01&to=2026-12-01&tz=Europe/Moscow"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# (queue waited for, seconds to the answer): dms's target is 30 s, paid's 25 s, general
# has none (console.service_level_s, 20 s).
CALLS = (
    ("dms", 22), ("dms", 28), ("dms", 35),
    ("paid", 22), ("paid", 27),
    ("general", 15), ("general", 22),
)  # fmt: skip
# Within the queues' own targets: dms 2 of 3, paid 1 of 2, general 1 of 2.
OWN = {"queue dms": 0.6667, "queue paid": 0.5, "queue general": 0.5, "total": 0.5714}


def _rules_text() -> str:
    """The example rules with targets on two queues (dms 30 s, paid 25 s)."""
    text = (REPO / "config" / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  dms:\n    priority: 8\n", "  dms:\n    priority: 8\n    service_level_s: 30\n"
    )
    text = text.replace(
        "  paid:\n    priority: 5\n", "  paid:\n    priority: 5\n    service_level_s: 25\n"
    )
    assert text.count("service_level_s") == 2
    return text


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A database with `CALLS`, the rules with targets and settings naming them."""
    folder = tmp_path_factory.mktemp("targets")
    rules = folder / "rules.yaml"
    rules.write_text(_rules_text(), encoding="utf-8")
    settings = folder / "router.yaml"
    text = (REPO / "config" / "router.yaml").read_text(encoding="utf-8")
    settings.write_text(text.replace("rules: rules.yaml", f"rules: {rules}"), encoding="utf-8")
    url = f"sqlite+aiosqlite:///{folder / 'router.db'}"
    asyncio.run(_fill(url))
    yield url, rules, settings


async def _fill(url: str) -> None:
    store = await Store.open(url, migrate=True)
    try:
        for i, (queue, speed) in enumerate(CALLS):
            cid, start = f"c{i}", T0 + timedelta(minutes=5 * i)
            await store.calls.create(
                CallRow(cid, "clinic-router", "1", "7495", start, line="moscow")
            )
            waiting = start + timedelta(seconds=4)
            await store.calls.append_event(cid, "waiting", {"for": f"queue {queue}"}, waiting)
            answered = waiting + timedelta(seconds=speed)
            await store.calls.update(
                cid, answered_at=answered, ended_at=answered + timedelta(minutes=2),
                outcome="answered", operator_id="op1",
            )  # fmt: skip
    finally:
        await store.close()


def _levels(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {r["key"]: float(r["service_level"]) for r in rows}


def _cli(
    files: tuple[str, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> Any:
    url, _, settings = files
    env = {**SECRETS, "CLINIC_ROUTER_DB_URL": url}
    return main_in_process([*args, "--config", str(settings)], env, capsys, monkeypatch)


def test_the_cli_measures_each_queue_against_its_own_target(
    files: tuple[str, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = ("--from", "2026-12-01", "--to", "2026-12-01", "--tz", "Europe/Moscow")
    done = _cli(
        files, capsys, monkeypatch, "report", "calls", *day, "--by", "queue", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert _levels(json.loads(done.stdout)["rows"]) == pytest.approx(OWN)
    # --sl-target: every queue against that one target.
    done = _cli(
        files, capsys, monkeypatch, "report", "calls", *day, "--sl-target", "30", "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert _levels(json.loads(done.stdout)["rows"]) == pytest.approx({"total": 0.8571})


async def test_rollups_and_raw_sums_give_the_same_levels(
    files: tuple[str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole-second targets (30, 25, 20) are read from the built rollups; a target of
    12.5 s falls back to the raw calls; the figures agree with the raw ones either way."""
    url, rules_path, _ = files
    store = await Store.open(url, migrate=True)
    rolled: list[object] = []
    original = RolledReportSql._rolled

    async def spy(self: RolledReportSql, *args: Any, **kwargs: Any) -> Any:
        rolled.append(args)
        return await original(self, *args, **kwargs)

    targets = {"queue dms": 30.0, "queue paid": 25.0}
    try:
        assert queue_targets(load_rules(rules_path)) == targets
        period = (T0 - timedelta(hours=10), T0 + timedelta(hours=14))
        tz = ZoneInfo("Europe/Moscow")

        async def levels(sl: dict[str, float], default: float) -> dict[str, float]:
            report = await store.reports.report(
                period, NOW, tz, group="queue", sl_targets=sl, default_sl_s=default
            )
            got = {g.key: g.service_level for g in report.groups}
            return {**got, "total": report.total.service_level}  # type: ignore[dict-item]

        raw = await levels(targets, 20.0)
        assert raw == pytest.approx(OWN) and not rolled  # nothing built yet: raw
        assert await Rollups(store.db).build(*period, NOW) > 0
        monkeypatch.setattr(RolledReportSql, "_rolled", spy)
        assert await levels(targets, 20.0) == pytest.approx(raw)
        assert len(rolled) == 1  # from the rollups
        # 12.5 s for queues without their own: dms 0, paid 0, general 0 -> raw, 2 of 7.
        half = await levels(targets, 12.5)
        assert len(rolled) == 1  # not whole seconds: the raw calls
        assert half == pytest.approx({**OWN, "queue general": 0.0, "total": 0.4286})
    finally:
        await store.close()


@pytest.fixture
async def api(files: tuple[str, Path, Path]) -> AsyncIterator[str]:
    url, rules_path, _ = files
    store = await Store.open(url, migrate=True)
    try:
        rules = LiveRules(rules_path, load_rules(rules_path))
        async with serving(store, lambda: NOW, rules) as base:
            yield base
    finally:
        await store.close()


async def _get(url: str) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=AUTH) as r:
        text = await r.text()
        return r.status, (await r.json() if "json" in r.content_type else None), text


async def test_the_api_measures_each_queue_against_its_own_target(api: str) -> None:
    status, body, _ = await _get(f"{api}/api/reports/calls?{DAY}&by=queue")
    assert status == 200, body
    assert _levels(body["rows"]) == pytest.approx(OWN)
    status, body, _ = await _get(f"{api}/api/reports/calls?{DAY}&sl_target=25")
    assert status == 200 and _levels(body["rows"]) == pytest.approx({"total": 0.5714})


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("from=0001-01-01", "from"),
        ("to=9999-12-31", "to"),
        ("to=0001-01-02", "to"),
        ("from=9999-12-31T00:00%2B05:00", "from"),
        ("from=2026-12-01&to=yesterday", "to"),
    ],
)
async def test_the_api_refuses_a_period_off_the_calendar(
    api: str, query: str, parameter: str
) -> None:
    for section in ("calls", "compare", "staffing"):
        status, body, _ = await _get(f"{api}/api/reports/{section}?{query}")
        assert status == 400, (section, body)
        assert body["error_id"] == "bad_parameter" and body["details"]["parameter"] == parameter


async def test_the_staffing_goal_is_a_share_below_one(api: str) -> None:
    for goal in ("1", "1.5", "0", "nan"):
        status, body, _ = await _get(f"{api}/api/reports/staffing?{DAY}&goal={goal}")
        assert status == 400 and body["details"]["parameter"] == "goal", goal
    status, body, _ = await _get(f"{api}/api/reports/staffing?{DAY}&goal=0.99&patience=0.00001")
    assert status == 200 and body["goal"] == {"target_s": 20.0, "level": 0.99}


async def test_a_csv_with_no_rows_keeps_its_header(api: str) -> None:
    empty = "from=2026-11-01&to=2026-11-01&tz=Europe/Moscow&format=csv"
    for section, first in (("operators", "operator_id"), ("staffing", "key")):
        status, _, text = await _get(f"{api}/api/reports/{section}?{empty}")
        assert status == 200
        header = next(csv.reader(io.StringIO(text)))
        assert header[0] == first and len(header) > 5, text
        assert text.count("\n") == 1


def test_the_cli_refuses_a_period_off_the_calendar(
    files: tuple[str, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for args, option in (
        (("--from", "0001-01-01"), "--from"),
        (("--to", "9999-12-31"), "--to"),
        (("--to", "0001-01-02"), "--to"),
    ):
        for command in (("report", "calls"), ("report", "compare"), ("staffing",)):
            done = _cli(files, capsys, monkeypatch, *command, *args)
            assert done.returncode == 2, (command, args, done.stderr)
            assert done.stderr.splitlines() == [
                f"{option}: '{args[1]}': out of range: a report covers days from 1970-01-01"
                " to 9998-12-31"
            ]
    # The CLI has no length cap: the period before a very long one is off the calendar.
    started = time.monotonic()
    done = _cli(
        files,
        capsys,
        monkeypatch,
        "report",
        "compare",
        "--from",
        "1970-01-01",
        "--to",
        "9998-12-31",
    )
    assert done.returncode == 2 and done.stderr.startswith("--from: the period before")
    assert time.monotonic() - started < 10  # refused before reading 8,000 years
    bad = _cli(files, capsys, monkeypatch, "staffing", "--patience", "inf")
    assert bad.returncode == 2 and "--patience must be" in bad.stderr


def test_a_compact_date_as_the_end_is_the_whole_day(
    files: tuple[str, Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ("report", "calls", "--from", "20261201", "--to", "20261201", "--format", "json")
    done = _cli(files, capsys, monkeypatch, *args, "--tz", "Europe/Moscow")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["start"], body["end"]) == (
        "2026-12-01T00:00:00+03:00",
        "2026-12-02T00:00:00+03:00",
    )
    assert body["rows"][-1]["offered"] == len(CALLS)


async def test_the_console_measures_each_queue_against_its_own_target(
    files: tuple[str, Path, Path],
) -> None:
    url, rules_path, _ = files
    store = await Store.open(url, migrate=True)
    try:
        await add_users(store)
        rules = LiveRules(rules_path, load_rules(rules_path))
        async with (
            serving_console(store, Clock(time.time()), rules=rules) as console,
            browser() as client,
        ):
            await sign_in(client, console.base, "sam")
            day = "from=2026-12-01&to=2026-12-01"
            async with client.get(f"{console.base}/console/reports/calls.csv?{day}&by=queue") as r:
                assert r.status == 200
                rows = list(csv.DictReader(io.StringIO(await r.text())))
            assert _levels(rows) == pytest.approx(OWN)
            async with client.get(f"{console.base}/console/reports?{day}") as r:
                assert r.status == 200
            for query in ("from=0001-01-01", "to=9999-12-31"):
                async with client.get(f"{console.base}/console/reports?{query}") as r:
                    assert r.status == 400 and "out of range" in await r.text()
                async with client.get(f"{console.base}/console/reports/compare.csv?{query}") as r:
                    assert r.status == 400
    finally:
        await store.close()
