"""`clinic-router users add|passwd|disable|enable|list`: console users, over the database
of `router.yaml`.

Passwords are read from the terminal (asked twice), or with `--password-stdin` as the
first line of standard input (for scripts); never from the command line, where `ps`
and shell history would show them. Every change is written to the audit log as
`cli:<login>`. Exit codes: 0 done, 1 no such user or the name is taken, 2 bad arguments
or the database cannot be opened.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from typing import Any, TextIO

from router.cli.store import with_store
from router.config.errors import ConfigError
from router.config.rules import load_rules
from router.config.settings import Settings
from router.console.passwords import WeakPasswordError, hash_password
from router.domain.console_access import Role
from router.storage.audit import AuditEntry
from router.storage.store import Store
from router.storage.users import UserExistsError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def add_users_parser(subparsers: Any, default_config: str) -> None:
    """Add `users` to the `clinic-router` sub-commands (`run_users` handles it)."""
    parser = subparsers.add_parser("users", help="console users (sign-in for the browser)")
    sub = parser.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="a new user")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--operator", help="the operator id in the rules (role operator)")
    passwd = sub.add_parser("passwd", help="set a new password (signs the user out everywhere)")
    disable = sub.add_parser("disable", help="refuse sign-ins and end the user's sessions")
    enable = sub.add_parser("enable", help="allow a disabled user again")
    listing = sub.add_parser("list", help="every user with role and operator")
    for command in (add, passwd, disable, enable):
        command.add_argument("username")
    for command in (add, passwd):
        command.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
    for command in (add, passwd, disable, enable, listing):
        command.add_argument("--config", default=default_config, help="settings (router.yaml)")


async def run_users(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run one `users` sub-command with parsed arguments; return the exit code."""
    problem = _argument_problem(args, settings)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    password_hash = None
    if args.users_command in ("add", "passwd"):
        try:
            password_hash = hash_password(_read_password(args.password_stdin))
        except (WeakPasswordError, EOFError) as exc:
            print(str(exc) or "no password given", file=sys.stderr)
            return 2
    return await with_store(settings, lambda store: _run(store, args, password_hash, out))


async def _run(
    store: Store, args: argparse.Namespace, password_hash: str | None, out: TextIO
) -> int:
    command = args.users_command
    if command == "list":
        for user in await store.users.list():
            state = "disabled" if user.disabled else "active"
            operator = user.operator_id or "-"
            print(f"{user.username:<24} {user.role.value:<10} {operator:<10} {state}", file=out)
        return 0
    name = args.username
    if command == "add":
        assert password_hash is not None
        try:
            await store.users.add(name, Role(args.role), args.operator, password_hash)
        except UserExistsError:
            print(f"user {name!r} exists (a new password: 'users passwd')", file=sys.stderr)
            return 1
        done = True
    elif command == "passwd":
        assert password_hash is not None
        done = await store.users.set_password(name, password_hash)
    else:
        done = await store.users.set_disabled(name, command == "disable")
    if not done:
        print(f"no user {name!r}", file=sys.stderr)
        return 1
    details: dict[str, object] = {"role": args.role} if command == "add" else {}
    actor = f"cli:{os.environ.get('USER') or 'unknown'}"
    await store.audit.record(AuditEntry(actor, f"user.{command}", target=name, details=details))
    print(f"{command}: {name}", file=out)
    return 0


def _argument_problem(args: argparse.Namespace, settings: Settings) -> str | None:
    name = getattr(args, "username", None)
    if name is not None and not _NAME.fullmatch(name):
        return f"{name!r} is not a valid user name: latin letters, digits, '.', '_', '-', '@'"
    if args.users_command != "add":
        return None
    role = Role(args.role)
    if role is Role.OPERATOR and not args.operator:
        return "an operator user needs --operator <operator id from the rules>"
    if role is not Role.OPERATOR and args.operator:
        return "--operator is for role operator only"
    if args.operator:
        try:
            known = [op.id for op in load_rules(settings.routing.rules).operators]
        except ConfigError:
            return f"the rules file {settings.routing.rules} has errors: run 'clinic-router check'"
        if args.operator not in known:
            return f"no operator {args.operator!r} in the rules (known: {', '.join(known)})"
    return None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise EOFError("no password on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise WeakPasswordError("the two passwords differ")
    return first
