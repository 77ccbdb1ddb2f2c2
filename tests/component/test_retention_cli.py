"""`clinic-router retention [--dry-run]` as an admin runs it (in this process, as
`router.cli.main.main`; see test_callbacks_cli.py for why)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from router.cli.main import main
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
    for name, value in {**SECRETS, "CLINIC_ROUTER_DB_URL": url}.items():
        monkeypatch.setenv(name, value)
    assert asyncio.run(_audit(url, 2000, 1500, 30)) == 3
    capsys.readouterr()
    assert main(["retention", "--dry-run", "--config", SETTINGS]) == 0
    out = capsys.readouterr().out
    assert "audit_log: would delete 2\n" in out and "calls: would delete 0\n" in out
    assert asyncio.run(_audit(url)) == 3  # a dry run deletes nothing
    assert main(["retention", "--config", SETTINGS]) == 0
    assert "audit_log: deleted 2\n" in capsys.readouterr().out
    assert asyncio.run(_audit(url)) == 1
