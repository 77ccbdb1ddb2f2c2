"""The `clinic-router` command.

Exit codes: 0 ok, 1 `check` found problems (`patients show`, `callbacks show|cancel|done`:
nothing found or nothing to change), 2 bad settings or usage (one line per problem,
never a traceback), 3 another router took over the Stasis app.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvloop

from router import __version__

DEFAULT_CONFIG = "/etc/clinic-router/router.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinic-router", description="Call routing engine for clinics, on Asterisk"
    )
    parser.add_argument("--version", action="version", version=f"clinic-router {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="attach to Asterisk's ARI and route calls")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="settings file (router.yaml)")

    check = sub.add_parser("check", help="validate settings and routing rules")
    check.add_argument(
        "path",
        nargs="?",
        default=None,
        help="router.yaml, a rules file, or a folder holding router.yaml",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")

    from router.cli.simulate import add_simulate_parser

    add_simulate_parser(sub)

    patients = sub.add_parser("patients", help="the patient store")
    psub = patients.add_subparsers(dest="patients_command", required=True)
    imp = psub.add_parser("import", help="upsert patients from a CSV file (docs/patients.md)")
    imp.add_argument("file")
    imp.add_argument("--config", default=DEFAULT_CONFIG)
    imp.add_argument(
        "--tz", default="Europe/Moscow", help="zone of date-times given without an offset"
    )
    imp.add_argument(
        "--progress-every", type=int, default=100_000, metavar="N", help="report every N rows"
    )
    imp.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes checking rows (0: none)"
    )
    show = psub.add_parser("show", help="patients on a phone number, with the full profile")
    show.add_argument("phone")
    show.add_argument("--config", default=DEFAULT_CONFIG)
    show.add_argument("--tz", default="Europe/Moscow", help="zone to show date-times in")
    show.add_argument("--json", action="store_true", help="print what GET /api/patients returns")

    from router.cli.callbacks import add_callbacks_parser

    add_callbacks_parser(sub, DEFAULT_CONFIG)

    from router.cli.users import add_users_parser

    add_users_parser(sub, DEFAULT_CONFIG)

    from router.asterisk_config.cli import add_asterisk_config_parser

    add_asterisk_config_parser(sub, DEFAULT_CONFIG)

    from router.asterisk_config.prompts_cli import add_prompts_parser
    from router.doctor.cli import add_doctor_parser

    add_doctor_parser(sub, DEFAULT_CONFIG)
    add_prompts_parser(sub, DEFAULT_CONFIG)

    from router.cli.reports import add_report_parser

    add_report_parser(sub, DEFAULT_CONFIG)

    from router.cli.replay import add_replay_parser

    add_replay_parser(sub, DEFAULT_CONFIG)

    from router.cli.retention import add_retention_parser

    add_retention_parser(sub, DEFAULT_CONFIG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from router.cli.simulate import run_simulate

        return run_simulate(args)
    if args.command == "check":
        from router.config.check import run_check

        return run_check(args.path, args.format)
    if args.command == "asterisk-config":
        from router.asterisk_config.cli import run_asterisk_config

        return run_asterisk_config(args)
    if args.command == "doctor":
        from router.doctor.cli import run_doctor

        return asyncio.run(run_doctor(args))
    if args.command == "prompts":
        from router.asterisk_config.prompts_cli import run_prompts

        return asyncio.run(run_prompts(args))
    # Only `run` talks to Asterisk and serves the API; the other commands use the database.
    settings = _load_settings_or_exit(args.config, secrets=args.command == "run")
    if args.command == "run":
        from router.app import run_router

        try:
            # uvloop: the same asyncio API, with the loop's own per-callback and
            # per-socket cost in C (the router's loop is busiest at a Monday peak).
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(run_router(settings))
        except KeyboardInterrupt:
            return 0
    if args.command == "patients":
        from router.cli.patients import import_csv, show_phone

        if args.patients_command == "import":
            return asyncio.run(
                import_csv(
                    settings,
                    Path(args.file),
                    tz_name=args.tz,
                    progress_every=max(1, args.progress_every),
                    workers=max(0, args.workers),
                )
            )
        return asyncio.run(show_phone(settings, args.phone, tz_name=args.tz, as_json=args.json))
    if args.command == "callbacks":
        from router.cli.callbacks import run_callbacks

        return asyncio.run(run_callbacks(args, settings, sys.stdout))
    if args.command == "users":
        from router.cli.users import run_users

        return asyncio.run(run_users(args, settings, sys.stdout))
    if args.command == "replay":
        from router.cli.replay import run_replay

        return asyncio.run(run_replay(args, settings, sys.stdout))
    if args.command == "retention":
        from router.cli.retention import run_retention

        return asyncio.run(run_retention(args, settings, sys.stdout))
    if args.command in ("report", "staffing"):
        from router.cli.reports import run_report

        return asyncio.run(run_report(args, settings, sys.stdout))
    return 2


def _load_settings_or_exit(path: str, *, secrets: bool):  # type: ignore[no-untyped-def]
    from router.config.errors import ConfigError
    from router.config.settings import load_settings

    try:
        return load_settings(path, secrets=secrets)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue.format(), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
