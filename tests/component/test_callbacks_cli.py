"""`clinic-router callbacks list|show|cancel|done|summary` as an admin runs it.

The command runs in this process (`router.cli.main.main`, the function `python -m router`
calls), its stdout and stderr captured: a new Python process costs 4-5 s of imports here
and over 10 s loaded, for nothing these tests look at. One test runs the real command line
(`_cli`), where a traceback or a second stderr line would show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import main_in_process

from router.storage import MissInput, Store

REPO = Path(__file__).resolve().parents[2]
SETTINGS = str(REPO / "config" / "router.yaml")
Cli = Callable[..., subprocess.CompletedProcess[str]]
SECRETS = {
    "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
    "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
}


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    """The real command line: a process of its own."""
    env = {"PATH": "/usr/bin:/bin", **SECRETS, "CLINIC_ROUTER_DB_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "router", "callbacks", *args, "--config", SETTINGS],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **env},
    )


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`clinic-router callbacks ARGS --config router.yaml` in this process, on `db_url`."""

    def run_cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
        argv = ["callbacks", *args, "--config", SETTINGS]
        env = {**SECRETS, "CLINIC_ROUTER_DB_URL": db_url}
        return main_in_process(argv, env, capsys, monkeypatch)

    return run_cli


@pytest.fixture
def missed() -> datetime:
    """The first miss, two hours before the test (not before the suite: it runs a while)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture
async def db_url(tmp_path: Path, missed: datetime) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    store = await Store.open(url, migrate=True)
    try:
        for call_id, number, minutes, reason in (
            ("c1", "+79161234567", 0, "abandoned"),
            ("c2", "+79161234567", 10, "max_wait"),
            ("c3", "+79167654321", 20, "no_operator"),
            ("c4", None, 30, "abandoned"),
        ):
            at = missed + timedelta(minutes=minutes)
            await store.callbacks.record_miss(
                MissInput(call_id, "moscow", number, None, reason, 15.0, at, at, True)
            )
    finally:
        await store.close()
    return url


def test_list_show_and_close(db_url: str, run: Cli) -> None:
    listed = run("list", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:3] == ["ID", "STATE", "NUMBER"]
    assert [row.split()[:3] for row in rows[1:]] == [
        ["1", "open", "+79161234567"],
        ["2", "open", "+79167654321"],
    ]
    assert rows[1].endswith("abandoned, max_wait")

    shown = run("show", "1", db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert "callback 1  open  +79161234567" in shown.stdout
    # The misses are two hours old when the fixture writes them (plus the time tests took).
    assert re.search(r"\(2:\d\d:\d\d ago\)", shown.stdout) and "misses: 2" in shown.stdout
    assert "max_wait       waited 15 s  call c2" in shown.stdout

    done = run("done", "1", "--by", "op1001", "--note", "called back", db_url=db_url)
    assert (done.returncode, done.stdout.strip()) == (0, "callback 1: done by op1001")
    again = run("cancel", "1", db_url=db_url)
    assert again.returncode == 1 and "callback task 1 is already done" in again.stderr
    missing = run("show", "99", db_url=db_url)
    assert missing.returncode == 1 and "no callback task 99" in missing.stderr


def test_json_is_the_api_shape(db_url: str, missed: datetime, run: Cli) -> None:
    listed = json.loads(run("list", "--json", "--min-age-s", "6600", db_url=db_url).stdout)
    assert [t["number"] for t in listed["callbacks"]] == ["+79161234567"]
    assert listed["callbacks"][0]["first_missed_at"] == missed.isoformat()
    shown = json.loads(run("show", "2", "--json", db_url=db_url).stdout)
    assert [m["call_id"] for m in shown["misses"]] == ["c3"]
    cancelled = json.loads(run("cancel", "2", "--json", "--by", "admin", db_url=db_url).stdout)
    assert (cancelled["state"], cancelled["closed_by"]) == ("cancelled", "admin")
    summary = json.loads(run("summary", "--json", db_url=db_url).stdout)
    assert (summary["open_tasks"], summary["misses"], summary["lost_anonymous"]) == (1, 4, 1)
    assert summary["closed_by_reason"] == {"cancelled": 1}


def test_summary_for_people(db_url: str, run: Cli) -> None:
    assert run("cancel", "2", db_url=db_url).returncode == 0
    shown = run("summary", "--days", "0", db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert "open tasks:            1" in shown.stdout
    assert "tasks closed:        1 (1 cancelled)" in shown.stdout
    assert "over all history:" in shown.stdout and "lost (anonymous):    1" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--limit", "0"), "--limit must be 1..500"),
        (("list", "--tz", "Mars/Olympus"), "unknown time zone"),
        (("list", "--state", "lost"), "invalid choice: 'lost'"),
        (("show", "abc"), "invalid int value: 'abc'"),
    ],
)
def test_bad_arguments_exit_2_without_a_traceback(
    db_url: str, run: Cli, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, db_url=db_url)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = _cli("list", db_url="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("cannot open the database:")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
