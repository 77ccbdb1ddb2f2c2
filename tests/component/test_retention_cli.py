"""`clinic-router retention [--dry-run]` as an admin runs it (in this process:
`cli_support.main_in_process`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import main_in_process
from sqlalchemy import func, insert, select

from router.storage import Store
from router.storage.tables import audit_log

REPO = Path(__file__).resolve().parents[2]
SETTINGS = str(REPO / "config" / "router.yaml")  # audit_log_days: 1095
SECRETS = {
    "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
    "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
}


async def _audit(url: str, *days_ago: int) -> int:
    """Writes entries that old (when given); the number of entries."""
    store = await Store.open(url, migrate=True)
    try:
        async with store.db.begin() as conn:
            now = datetime.now(UTC)
            rows = [
                {"at": now - timedelta(days=d), "action": "sign_in", "ok": True, "details": {}}
                for d in days_ago
            ]
            if rows:
                await conn.execute(insert(audit_log), rows)
            return int(
                (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
            )
    finally:
        await store.close()


def test_a_dry_run_counts_and_a_run_deletes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    env = {**SECRETS, "CLINIC_ROUTER_DB_URL": url}

    def retention(*args: str) -> str:
        argv = ["retention", *args, "--config", SETTINGS]
        done = main_in_process(argv, env, capsys, monkeypatch)
        assert (done.returncode, done.stderr) == (0, "")
        return done.stdout

    assert asyncio.run(_audit(url, 2000, 1500, 30)) == 3
    out = retention("--dry-run")
    assert "audit_log: would delete 2\n" in out and "calls: would delete 0\n" in out
    assert asyncio.run(_audit(url)) == 3  # a dry run deletes nothing
    assert "audit_log: deleted 2\n" in retention()
    assert asyncio.run(_audit(url)) == 1


def test_the_real_command_line_says_nothing_else(tmp_path: Path) -> None:
    """`python -m router retention --dry-run`, a process of its own: exit 0, one line per
    table, nothing on stderr (a traceback would show here)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "router", "retention", "--dry-run", "--config", SETTINGS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **SECRETS, "CLINIC_ROUTER_DB_URL": url},
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "calls: would delete 0",
        "callback_tasks: would delete 0",
        "misses: would delete 0",
        "operator_states: would delete 0",
        "audit_log: would delete 0",
    ]


def test_without_a_retention_section_it_deletes_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    (tmp_path / "rules.yaml").write_text("operators: []\n", encoding="utf-8")
    config = tmp_path / "router.yaml"
    config.write_text("logging:\n  level: INFO\n", encoding="utf-8")
    assert asyncio.run(_audit(url, 2000, 30)) == 2
    done = main_in_process(
        ["retention", "--config", str(config)],
        {**SECRETS, "CLINIC_ROUTER_DB_URL": url},
        capsys,
        monkeypatch,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "retention: not configured (no `retention:` in router.yaml): nothing is pruned\n"
    )
    assert asyncio.run(_audit(url)) == 2
