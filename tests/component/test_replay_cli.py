"""`clinic-router replay` over a recorded morning: as it happened, replayed with the
current rules and operators, and with a roster that puts everyone on duty.

The commands run in this process (the `cli` fixture, cli_support.py) but for the second
replay of the first test: a real process, where a traceback would show and whose own
hash seed must not change the seeded replay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import REPO, SECRETS, SETTINGS, Cli, main_in_process, run_cli

from router.cli.replay import COMPARED
from router.domain.reports.records import FALLBACK_MISS
from router.storage import Store
from router.storage.models import CallRow, MissInput
from router.storage.replay_rows import answered_by_operator

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 10:00 in Moscow
EVERYONE = """shifts:
  - operators: [op1001, op1002, op1003, op1004, op1005, op1006, op1007, op1008]
    days: [mon, tue, wed, thu, fri, sat, sun]
    from: "00:00"
    to: "23:59"
"""


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Six unknown callers on the Moscow line 10 s apart; op1001 and op1002 (the only ones
    rung, so the only ones on duty) answer the first two in 3 s and talk 297 s; the other
    four give up after 30 s of waiting. A replay only reads it: one per module."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('replay') / 'router.db'}"
    asyncio.run(_record_morning(url))
    return url


async def _record_morning(url: str, fallback: bool = False, queue: str = "general") -> None:
    store = await Store.open(url, migrate=True)
    try:
        if fallback:  # a caller the router never saw (down): the dialplan's miss only
            at = T0 + timedelta(seconds=100)
            miss = MissInput("f1", "moscow", "+79160000099", None, FALLBACK_MISS, 0.0, at, at, True)
            await store.callbacks.record_miss(miss)
        for i in range(6):
            cid, start = f"c{i}", T0 + timedelta(seconds=10 * i)
            row = CallRow(cid, "clinic-router", f"+7916000000{i}", "+74952232222", start)
            await store.calls.create(row)
            await store.calls.update(cid, line="moscow")
            waiting = start + timedelta(seconds=5)
            await store.calls.append_event(cid, "waiting", {"for": f"queue {queue}"}, waiting)
            if i < 2:
                op, answered = f"op100{i + 1}", waiting + timedelta(seconds=3)
                await store.calls.record_ring_attempt(
                    call_id=cid, operator_id=op, channel_id=None, started_at=waiting,
                    ended_at=answered, result="answered",
                )  # fmt: skip
                await store.calls.update(
                    cid, answered_at=answered, ended_at=waiting + timedelta(seconds=300),
                    outcome="answered", operator_id=op,
                )  # fmt: skip
            else:
                end = waiting + timedelta(seconds=30)
                await store.calls.update(cid, ended_at=end, outcome="abandoned")
    finally:
        await store.close()


DAY = ("--from", "2026-11-30", "--to", "2026-11-30", "--tz", "Europe/Moscow")


def test_replay_side_by_side(db_url: str, tmp_path: Path, cli: Cli) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text(EVERYONE, encoding="utf-8")
    done = cli("replay", *DAY, "--roster", str(roster), "--format", "json", db_url=db_url)
    assert done.returncode == 0, done.stderr
    rows = {r["figure"]: r for r in json.loads(done.stdout)["rows"]}
    for figure in ("offered", "answered", "abandoned", "service_level", "wait_max_s"):
        # The model's own error on this morning: none.
        assert rows[figure]["replayed_current"] == rows[figure]["as_happened"], figure
    assert (rows["answered"]["as_happened"], rows["abandoned"]["as_happened"]) == (2, 4)
    # Everyone on duty: more of the six are answered (those the rules make eligible).
    assert rows["answered"]["replayed_new"] > 2
    assert rows["offered"]["replayed_new"] == 6
    again = run_cli("replay", *DAY, "--roster", str(roster), "--format", "json", db_url=db_url)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == done.stdout  # seeded: the same replay, in another process


def test_a_bad_roster_is_one_line_and_exit_2(db_url: str, tmp_path: Path, cli: Cli) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text("shifts:\n  - operators: [op1001]\n    days: [monday]\n", encoding="utf-8")
    done = cli("replay", *DAY, "--roster", str(roster), db_url=db_url)
    assert done.returncode == 2
    assert done.stderr.strip() == "shifts[0]: give exactly days, from, operators, to"


def test_as_happened_is_the_report_with_its_targets_and_the_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first column is `report calls` of the period, figure by figure: the queue's
    own service-level target (paid: 2 s, where both answers took 3 s; the settings' 20 s
    would pass them) and a fallback-only miss included. The replayed columns measure
    against the same targets and count that miss as it happened (it cannot be replayed)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    asyncio.run(_record_morning(url, fallback=True, queue="paid"))  # where the rules wait
    rules = tmp_path / "rules.yaml"
    example = (REPO / "config" / "rules.yaml").read_text(encoding="utf-8")
    assert "\n  paid:\n" in example
    rules.write_text(example.replace("\n  paid:\n", "\n  paid:\n    service_level_s: 2\n"))
    settings = tmp_path / "router.yaml"
    text = Path(SETTINGS).read_text(encoding="utf-8")
    settings.write_text(text.replace("rules: rules.yaml", f"rules: {rules}"), encoding="utf-8")
    env = {**SECRETS, "CLINIC_ROUTER_DB_URL": url}

    def cli(*args: str) -> list[dict[str, Any]]:
        argv = [*args, *DAY, "--format", "json", "--config", str(settings)]
        done = main_in_process(argv, env, capsys, monkeypatch)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)["rows"]
        return rows

    rows = {r["figure"]: r for r in cli("replay")}
    [report] = cli("report", "calls")
    assert {k: rows[k]["as_happened"] for k in COMPARED} == {k: report[k] for k in COMPARED}
    assert (report["offered"], report["no_operator"], report["service_level"]) == (7, 1, 0.0)
    replayed = {k: rows[k]["replayed_current"] for k in ("offered", "no_operator", "answered")}
    assert replayed == {"offered": 7, "no_operator": 1, "answered": 2}
    assert rows["service_level"]["replayed_current"] == 0.0  # 2 of 6 within the 20 s


def test_calls_today_before_a_replay_that_starts_mid_morning(db_url: str) -> None:
    """A replay from 10:00:15 starts op1001 and op1002 at the one call each answered
    that morning (c0 at 10:00:00, c1 at 10:00:10); from 10:00:00, at none."""

    async def counts(start: datetime) -> dict[str, int]:
        store = await Store.open(db_url)
        try:
            return await answered_by_operator(store.db, T0, start)
        finally:
            await store.close()

    assert asyncio.run(counts(T0 + timedelta(seconds=15))) == {"op1001": 1, "op1002": 1}
    assert asyncio.run(counts(T0 + timedelta(seconds=5))) == {"op1001": 1}
    assert asyncio.run(counts(T0)) == {}
