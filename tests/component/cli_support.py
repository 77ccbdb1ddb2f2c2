"""Shared by the CLI tests: `python -m router …` as an admin runs it, on a given database
(the example settings, with the secrets and the database URL from the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, db_url: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
        "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
        "CLINIC_ROUTER_DB_URL": db_url,
    }
    settings = str(REPO / "config" / "router.yaml")
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--config", settings],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        env={**os.environ, **env},
    )
