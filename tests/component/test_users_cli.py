"""`clinic-router users add|passwd|disable|enable|list` as an admin runs it.

The commands run in this process (the `cli` fixture, cli_support.py), their password on
standard input; the first `add` runs as a real process, its password piped in as a
script would."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cli_support import Cli, run_cli

from router.console.passwords import verify_password
from router.storage import Store
from router.storage.audit import AuditEntry
from router.storage.users import UserRow

ADMIN = {"USER": "root-admin"}
# argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes): what the command hashes with, the
# console's test users being hashed cheaper (console_support.py)
PRODUCTION_COST = "$argon2id$v=19$m=65536,t=3,p=4$"


async def _user_and_audit(url: str) -> tuple[UserRow | None, list[AuditEntry]]:
    store = await Store.open(url)
    try:
        return await store.users.get("olga"), await store.audit.recent()
    finally:
        await store.close()


def test_add_list_passwd_disable_and_every_change_audited(tmp_path: Path, cli: Cli) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    added = run_cli(
        "users",
        "add",
        "olga",
        "--role",
        "operator",
        "--operator",
        "op1001",
        "--password-stdin",
        db_url=url,
        stdin="first password\n",
        env=ADMIN,
    )
    assert added.returncode == 0, added.stderr
    again = cli(
        "users", "add", "olga", "--role", "admin", "--password-stdin",
        db_url=url, stdin="x" * 9, env=ADMIN,
    )  # fmt: skip
    assert again.returncode == 1 and "exists" in again.stderr
    changed = cli(
        "users", "passwd", "olga", "--password-stdin",
        db_url=url, stdin="second password\n", env=ADMIN,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert cli("users", "disable", "olga", db_url=url, env=ADMIN).returncode == 0
    listed = cli("users", "list", db_url=url, env=ADMIN)
    assert listed.stdout.split() == ["olga", "operator", "op1001", "disabled"]
    assert cli("users", "disable", "nobody", db_url=url, env=ADMIN).returncode == 1
    user, audit = asyncio.run(_user_and_audit(url))
    assert user is not None and user.disabled
    assert verify_password(user.password_hash, "second password")
    assert "second password" not in user.password_hash
    assert user.password_hash.startswith(PRODUCTION_COST)
    assert [(e.actor, e.action, e.target) for e in audit] == [
        ("cli:root-admin", "user.disable", "olga"),
        ("cli:root-admin", "user.passwd", "olga"),
        ("cli:root-admin", "user.add", "olga"),
    ]


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: Path, cli: Cli) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    no_op = cli(
        "users", "add", "olga", "--role", "operator", "--password-stdin",
        db_url=url, stdin="p" * 9, env=ADMIN,
    )  # fmt: skip
    assert no_op.returncode == 2 and "--operator" in no_op.stderr
    unknown = cli(
        "users", "add", "olga", "--role", "operator", "--operator", "op9999",
        "--password-stdin", db_url=url, stdin="p" * 9, env=ADMIN,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no operator 'op9999'" in unknown.stderr
    short = cli(
        "users", "add", "ada", "--role", "admin", "--password-stdin",
        db_url=url, stdin="short\n", env=ADMIN,
    )  # fmt: skip
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert not (tmp_path / "router.db").exists()
