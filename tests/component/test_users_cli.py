"""`clinic-router users add|passwd|disable|enable|list` as an admin runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from router.console.passwords import verify_password
from router.storage import Store

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, db_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "CLINIC_ROUTER_ARI_PASSWORD": "secret-secret",
        "CLINIC_ROUTER_API_TOKEN": "token-0123456789abcdef",
        "CLINIC_ROUTER_DB_URL": db_url,
        "USER": "root-admin",
    }
    settings = str(REPO / "config" / "router.yaml")
    return subprocess.run(
        [sys.executable, "-m", "router", "users", *args, "--config", settings],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **env},
    )


async def test_add_list_passwd_disable_and_every_change_audited(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    added = _cli(
        "add",
        "olga",
        "--role",
        "operator",
        "--operator",
        "op1001",
        "--password-stdin",
        db_url=url,
        stdin="first password\n",
    )
    assert added.returncode == 0, added.stderr
    again = _cli("add", "olga", "--role", "admin", "--password-stdin", db_url=url, stdin="x" * 9)
    assert again.returncode == 1 and "exists" in again.stderr
    changed = _cli("passwd", "olga", "--password-stdin", db_url=url, stdin="second password\n")
    assert changed.returncode == 0, changed.stderr
    assert _cli("disable", "olga", db_url=url).returncode == 0
    listed = _cli("list", db_url=url)
    assert listed.stdout.split() == ["olga", "operator", "op1001", "disabled"]
    assert _cli("disable", "nobody", db_url=url).returncode == 1
    store = await Store.open(url)
    try:
        user = await store.users.get("olga")
        audit = await store.audit.recent()
    finally:
        await store.close()
    assert user is not None and user.disabled
    assert verify_password(user.password_hash, "second password")
    assert "second password" not in user.password_hash
    assert [(e.actor, e.action, e.target) for e in audit] == [
        ("cli:root-admin", "user.disable", "olga"),
        ("cli:root-admin", "user.passwd", "olga"),
        ("cli:root-admin", "user.add", "olga"),
    ]


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    no_op = _cli("add", "olga", "--role", "operator", "--password-stdin", db_url=url, stdin="p" * 9)
    assert no_op.returncode == 2 and "--operator" in no_op.stderr
    unknown = _cli(
        "add",
        "olga",
        "--role",
        "operator",
        "--operator",
        "op9999",
        "--password-stdin",
        db_url=url,
        stdin="p" * 9,
    )
    assert unknown.returncode == 2 and "no operator 'op9999'" in unknown.stderr
    short = _cli("add", "ada", "--role", "admin", "--password-stdin", db_url=url, stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert not (tmp_path / "router.db").exists()
