"""`clinic-router report calls|operators|misses|compare` and `clinic-router staffing`: the
reports of a period from the database of `router.yaml`, as a table, CSV or JSON
(`--format json` prints what `GET /api/reports/<section>` returns).

Exit codes: 0 done, 2 bad arguments or the database cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO

from router.cli.patients import zone_arg
from router.cli.store import with_store
from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.config.settings import Settings
from router.domain.reports import CALL_GROUPS
from router.domain.reports.export import SECTIONS, to_csv, to_table
from router.domain.reports.period import PeriodError, parse_period
from router.engine.rollups import not_before
from router.http.json_io import json_default
from router.report_view import ReportQuery, queue_targets, section_body, staffing_body
from router.storage.report_rollup_sql import Rollups
from router.storage.store import Store


def add_report_parser(subparsers: Any, default_config: str) -> None:
    """Add `report` and `staffing` to the `clinic-router` sub-commands (`run_report`)."""
    parser = subparsers.add_parser("report", help="calls, operators, misses for a period")
    parser.add_argument(
        "section",
        choices=(*SECTIONS, "rollup"),
        help="compare: against the period before; rollup: build the interval rollups "
        "(default: the whole history)",
    )
    _period_options(parser, default_config)
    parser.add_argument("--by", choices=CALL_GROUPS, help="calls: one row per line, queue, day…")
    parser.add_argument(
        "--rebuild", action="store_true", help="rollup: build again the intervals built"
    )
    staff = subparsers.add_parser(
        "staffing", help="operators needed per hour of the week (Erlang C and A)"
    )
    _period_options(staff, default_config)
    staff.add_argument(
        "--goal", type=float, default=0.8, help="share to answer within the target (0.8)"
    )
    staff.add_argument(
        "--patience", type=float, metavar="S", help="mean patience, s (default: measured)"
    )


def _period_options(parser: Any, default_config: str) -> None:
    parser.add_argument(
        "--from", dest="start", help="first day (2026-11-30) or time; default 7 days ago"
    )
    parser.add_argument("--to", dest="end", help="last day (whole) or end time; default now")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--tz", help="zone of days and hours (default console.timezone)")
    parser.add_argument(
        "--sl-target",
        type=float,
        metavar="S",
        help="service-level target, s (default console.service_level_s)",
    )
    parser.add_argument("--config", default=default_config, help="settings (router.yaml)")


async def run_report(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print one section of the report; return the exit code."""
    tz_name = args.tz or settings.console.timezone
    tz = zone_arg(tz_name)
    if tz is None:
        return 2
    problem = _option_problem(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if getattr(args, "section", None) == "rollup":
        return await run_rollup(args, settings, tz, out)
    by = getattr(args, "by", None)
    try:
        # An explicit --sl-target measures every queue against it; else each queue's own
        # (staffing sums the hours across queues: its goal has the one target).
        own_targets = args.command == "report" and args.sl_target is None
        rules = _rules(settings) if by == "branch" or own_targets else None
    except ConfigError as exc:
        print("\n".join(issue.format() for issue in exc.issues), file=sys.stderr)
        return 2
    try:
        query = ReportQuery.parse(
            args.start, args.end, tz, datetime.now(UTC), by=by,
            branches=_branches(rules) if by == "branch" else {},
            sl_target_s=args.sl_target or settings.console.service_level_s,
            sl_targets=queue_targets(rules) if own_targets else {},
            overdue_after_s=settings.console.callback_overdue_min * 60,
        )  # fmt: skip
    except PeriodError as exc:
        print(_period_problem(exc), file=sys.stderr)
        return 2

    async def command(store: Store) -> int:
        try:
            if args.command == "staffing":
                body = await staffing_body(store, query, args.goal, args.patience)
            else:
                body = await section_body(store, query, args.section)
        except PeriodError as exc:  # compare: the period before is off the calendar
            print(_period_problem(exc), file=sys.stderr)
            return 2
        out.write(_render(body, args.format))
        return 0

    return await with_store(settings, command)


async def run_rollup(args: argparse.Namespace, settings: Settings, tz: tzinfo, out: TextIO) -> int:
    """Build the settled intervals of the period not built yet (`--rebuild`: all),
    printing the progress; safe while the router runs (`report_rollup_sql`)."""
    now = datetime.now(UTC)

    async def command(store: Store) -> int:
        rollups = Rollups(store.db)
        first = await rollups.first_call()
        try:
            start, end = parse_period(args.start or _day(first or now, tz), args.end, tz, now)
        except PeriodError as exc:
            print(_period_problem(exc), file=sys.stderr)
            return 2
        kept = not_before(start, settings.retention, now)
        if kept > start:
            # its calls may be pruned: a build would overwrite the sums built before
            out.write(
                f"intervals before {kept.astimezone(tz):%Y-%m-%d %H:%M} are past"
                " retention.calls_days: not built (the sums built before stay)\n"
            )
            start = kept
        began = last = time.monotonic()

        def progress(at: datetime, built: int) -> None:
            nonlocal last
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                out.write(f"up to {at.astimezone(tz):%Y-%m-%d %H:%M}: {built} intervals built\n")
                out.flush()

        built = await rollups.build(start, end, now, rebuild=args.rebuild, progress=progress)
        took = time.monotonic() - began
        span = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"
        out.write(f"{span}: {built} intervals built in {took:.1f} s\n")
        return 0

    return await with_store(settings, command)


def _day(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d")


def _rules(settings: Settings) -> Rules:
    """The rules the settings name (each line's branch, each queue's target)."""
    return load_rules(settings.routing.rules)


def _branches(rules: Rules | None) -> dict[str, str]:
    """Each line's branch."""
    return {line.id: line.branch for line in rules.lines if line.branch} if rules else {}


def _period_problem(exc: PeriodError) -> str:
    """One line naming the option at fault (both when the period is empty)."""
    return f"--{exc.parameter or 'from/--to'}: {exc}"


def _option_problem(args: argparse.Namespace) -> str | None:
    if args.sl_target is not None and not 0 < args.sl_target <= 3600:
        return "--sl-target must be 1..3600 seconds"
    if args.command == "staffing":
        if not 0 < args.goal < 1:
            return "--goal must be a share between 0 and 1 (0.8: 80 %)"
        if args.patience is not None and not 0 < args.patience < math.inf:
            return "--patience must be a positive number of seconds"
    return None


def _render(body: dict[str, Any], form: str) -> str:
    if form == "json":
        return json.dumps(body, default=json_default, ensure_ascii=False, indent=2) + "\n"
    rows = body["rows"]
    if form == "csv":
        return to_csv(rows, body["section"])
    head = f"{body['section']} {body['start']} .. {body['end']}\n"
    return head + (to_table(rows) if rows else "(nothing in this period)\n")
