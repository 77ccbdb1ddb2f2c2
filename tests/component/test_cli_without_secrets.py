"""Commands that only use the database run without the ARI password and the API token;
`run`, which uses both, still refuses to start without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.storage import Store

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("CLINIC_ROUTER_ARI_PASSWORD", "CLINIC_ROUTER_API_TOKEN")


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env["CLINIC_ROUTER_DB_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--config", str(REPO / "config" / "router.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    store = await Store.open(url, migrate=True)
    await store.close()
    return url


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("callbacks", "list"), 0),
        (("callbacks", "summary"), 0),
        (("callbacks", "show", "1"), 1),  # nothing found: 1, not a settings error (2)
        (("patients", "show", "+79161234567"), 1),
    ],
)
def test_read_only_commands_need_no_secrets(args: tuple[str, ...], code: int, db_url: str) -> None:
    done = _cli(*args, db_url=db_url)
    assert done.returncode == code, done.stderr
    assert "password" not in done.stderr and "token" not in done.stderr


def test_run_still_demands_the_secrets(db_url: str) -> None:
    done = _cli("run", db_url=db_url)
    assert done.returncode == 2
    assert "no ARI password" in done.stderr
    assert "no API token" in done.stderr
