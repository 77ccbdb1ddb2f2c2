"""`clinic-router asterisk-config`: render the Asterisk side from router.yaml + rules.yaml.

Without options it prints the generated files (the ARI password masked); `--diff DIR`
shows what `--apply DIR` would change in an Asterisk config folder (`/etc/asterisk`);
`--apply DIR` writes the `clinic-router-*.conf` files, adds each `#include` line once to
the stock file, keeps a backup of every file it replaces and reloads the touched modules
with `asterisk -rx`. Exit codes: 0 done (or nothing to change), 1 a reload failed,
2 bad settings, rules or folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from router.asterisk_config.files import (
    apply_changes,
    defined_in,
    mask,
    moh_class_exists,
    plan_changes,
    reload_commands,
    render_diff,
    run_reloads,
)
from router.asterisk_config.render import (
    INCLUDED_FROM,
    plan_from,
    render_files,
    render_no_moh_class,
)
from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.config.settings import Settings, load_settings

DEFAULT_ENV_FILE = "/etc/clinic-router/clinic-router.env"  # deploy/install.sh writes it


def add_asterisk_config_parser(subparsers: Any, default_config: str) -> None:
    """Add `asterisk-config` to the `clinic-router` sub-commands."""
    parser = subparsers.add_parser(
        "asterisk-config", help="write the Asterisk side (clinic-router-*.conf) from the rules"
    )
    parser.add_argument("--config", default=default_config, help="settings (router.yaml)")
    add_env_file_argument(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--diff", metavar="DIR", help="show what --apply DIR would change")
    mode.add_argument("--apply", metavar="DIR", help="write into DIR (e.g. /etc/asterisk)")
    parser.add_argument(
        "--no-reload", action="store_true", help="with --apply: do not reload Asterisk"
    )
    parser.add_argument(
        "--asterisk",
        default="asterisk",
        help="command that runs Asterisk's CLI ('asterisk -rx' is appended)",
    )


def add_env_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        help="KEY=VALUE lines read before the settings, for the ARI password (default: the"
        " systemd EnvironmentFile /etc/clinic-router/clinic-router.env, when readable)",
    )


def read_env_file(path: str | None) -> dict[str, str]:
    """The process environment, with a systemd-style EnvironmentFile's values on top
    (without --env-file: the installed one, when this user may read it)."""
    env = dict(os.environ)
    if path is None:
        if not os.access(DEFAULT_ENV_FILE, os.R_OK):
            return env
        path = DEFAULT_ENV_FILE
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip().strip('"').strip("'")
    return env


def load_inputs(config: str, env: Mapping[str, str], err: TextIO) -> tuple[Settings, Rules] | None:
    """Settings and rules, or None after printing every problem."""
    try:
        # Only the ARI password matters here, not the API token or the CRM secret.
        settings = load_settings(config, env=env, secrets=False)
        rules = load_rules(settings.routing.rules)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue.format(), file=err)
        return None
    if not settings.ari.password.get_secret_value():
        print(
            f"{config}: no ARI password: set {settings.ari.password_env or 'ari.password_env'}"
            " (install.sh keeps it in /etc/clinic-router/clinic-router.env: --env-file)",
            file=err,
        )
        return None
    return settings, rules


def inputs_of(args: argparse.Namespace, err: TextIO) -> tuple[Settings, Rules] | None:
    """Settings and rules of a command with --config and --env-file (None: told on err)."""
    try:
        env = read_env_file(args.env_file)
    except OSError as exc:
        print(f"cannot read --env-file: {exc}", file=err)
        return None
    return load_inputs(args.config, env, err)


def ari_user_clash(folder: Path, user: str) -> str | None:
    """Why we must not write our ARI user: one of that name defined by hand already
    (Asterisk would reject ari.conf for the duplicate), else None."""
    where = defined_in(folder, "ari.conf", user)
    if where is None:
        return None
    return (
        f"{folder / where} already defines [{user}], an ARI user not written by"
        f" asterisk-config; a second one would make Asterisk reject ari.conf. Remove that"
        f" section (asterisk-config writes the user into clinic-router-ari.conf with the"
        f" password from clinic-router.env), or set ari.username in router.yaml to another"
        f" name. Nothing was changed."
    )


def ami_user_clash(folder: Path, user: str) -> str | None:
    """Why we must not write the router's AMI user (AGI mode): one of that name defined
    by hand already (Asterisk would merge or reject the two), else None."""
    where = defined_in(folder, "manager.conf", user)
    if where is None:
        return None
    return (
        f"{folder / where} already defines [{user}], an AMI user not written by"
        f" asterisk-config. Remove that section (asterisk-config writes the user into"
        f" clinic-router-manager.conf with the secret from the router's environment), or"
        f" set agi.ami_username in router.yaml to another name. Nothing was changed."
    )


def run_asterisk_config(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run the command with parsed arguments; return the exit code."""
    try:
        env = read_env_file(args.env_file)
    except OSError as exc:
        print(f"cannot read --env-file: {exc}", file=err)
        return 2
    inputs = load_inputs(args.config, env, err)
    if inputs is None:
        return 2
    settings, rules = inputs
    ami_secret = env.get(settings.agi.ami_secret_env) or None  # None: the ARI password
    folder = Path(args.apply or args.diff) if (args.apply or args.diff) else None
    if folder is not None and not folder.is_dir():
        print(f"{folder} is not a folder (expected Asterisk's, like /etc/asterisk)", file=err)
        return 2
    if folder is not None and (clash := ari_user_clash(folder, settings.ari.username)):
        print(clash, file=err)
        return 2
    add_moh = folder is not None and not moh_class_exists(folder, "default")
    plan = plan_from(settings, rules, add_moh_class=add_moh, ami_secret=ami_secret)
    clash = ami_user_clash(folder, plan.agi.ami_user) if folder and plan.agi else None
    if clash:
        print(clash, file=err)
        return 2
    files = render_files(plan)
    moh_file = "clinic-router-musiconhold.conf"
    if folder is not None and not add_moh and (folder / moh_file).exists():
        files[moh_file] = render_no_moh_class(plan.moh_class)  # written by an earlier apply
    secrets = [plan.ari_password] + ([plan.agi.ami_secret] if plan.agi is not None else [])
    if folder is None:
        for name, text in files.items():
            print(f";; ---- {name} (included from {INCLUDED_FROM[name]})", file=out)
            print(mask(text, secrets), file=out)
        return 0
    changes = plan_changes(folder, files)
    if args.diff:
        print(render_diff(changes, secrets) or "nothing to change", file=out, end="")
        return 0
    try:
        written = apply_changes(changes)
    except OSError as exc:
        print(f"cannot write into {folder}: {exc}", file=err)
        return 2
    for path in written:
        print(f"wrote {path}", file=out)
    if not written:
        print("nothing to change", file=out)
    if args.no_reload or not written:
        return 0
    failed = 0
    for command, ok, output in run_reloads(reload_commands(written), args.asterisk):
        print(f"asterisk -rx '{command}': {'ok' if ok else 'FAILED'}", file=out)
        if not ok:
            failed += 1
            print(f"  {output}", file=out)
    return 1 if failed else 0
