"""`clinic-router callbacks list|show|cancel|done|summary`: the callback ledger from the
command line, over the database of `router.yaml`.

`--json` prints what the matching `/api/callbacks` route returns. Exit codes: 0 done,
1 no such task or already closed, 2 bad arguments or the database cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TextIO

from router.cli.patients import zone_arg
from router.cli.store import with_store
from router.config.settings import Settings
from router.domain.callback_schedule import TaskState
from router.http.callbacks import miss_json, summary_json, task_json
from router.http.json_io import json_default
from router.storage.callbacks import MAX_PAGE, TaskClosedError
from router.storage.models import CallbackTask, MissRow
from router.storage.patients_csv import DEFAULT_TZ
from router.storage.store import Store


def add_callbacks_parser(subparsers: Any, default_config: str) -> None:
    """Add `callbacks` to the `clinic-router` sub-commands (`run_callbacks` handles it)."""
    parser = subparsers.add_parser("callbacks", help="the callback ledger (missed calls)")
    sub = parser.add_subparsers(dest="callbacks_command", required=True)
    listing = sub.add_parser("list", help="callback tasks, most urgent first")
    listing.add_argument("--state", choices=[s.value for s in TaskState])
    listing.add_argument("--line", help="only this line's tasks")
    listing.add_argument("--min-age-s", type=int, metavar="S", help="first missed S+ seconds ago")
    listing.add_argument("--limit", type=int, default=50, help=f"1..{MAX_PAGE}")
    listing.add_argument("--offset", type=int, default=0)
    show = sub.add_parser("show", help="one task with the misses that made it")
    cancel = sub.add_parser("cancel", help="drop an open task")
    done = sub.add_parser("done", help="mark an open task worked by hand")
    done.add_argument("--note", help="what was done (at most 500 characters)")
    summary = sub.add_parser("summary", help="figures for supervisors")
    summary.add_argument("--days", type=int, default=7, help="period in days (0: all history)")
    for command in (show, cancel, done):
        command.add_argument("task_id", type=int)
    for command in (cancel, done):
        command.add_argument("--by", default=os.environ.get("USER") or "cli", help="who")
    for command in (listing, show, cancel, done, summary):
        command.add_argument("--config", default=default_config, help="settings (router.yaml)")
        command.add_argument("--tz", default=DEFAULT_TZ, help="zone to show date-times in")
        command.add_argument("--json", action="store_true", help="print what the API returns")


async def run_callbacks(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run one `callbacks` sub-command with parsed arguments; return the exit code."""
    tz = zone_arg(args.tz)
    if tz is None:
        return 2
    problem = _argument_problem(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    view = _View(args.json, tz, out, datetime.now(UTC))
    command: Callable[[Store], Awaitable[int]] = {
        "list": lambda store: _list(store, args, view),
        "show": lambda store: _show(store, args.task_id, view),
        "cancel": lambda store: _close(store, args, view),
        "done": lambda store: _close(store, args, view),
        "summary": lambda store: _summary(store, args.days, view),
    }[args.callbacks_command]
    return await with_store(settings, command)


def _argument_problem(args: argparse.Namespace) -> str | None:
    if args.callbacks_command == "list":
        if not 1 <= args.limit <= MAX_PAGE:
            return f"--limit must be 1..{MAX_PAGE}"
        if args.offset < 0 or (args.min_age_s is not None and args.min_age_s < 0):
            return "--offset and --min-age-s must be 0 or more"
    if args.callbacks_command == "summary" and args.days < 0:
        return "--days must be 0 or more"
    if getattr(args, "note", None) and len(args.note) > 500:
        return "--note must be at most 500 characters"
    if getattr(args, "by", None) is not None and not 1 <= len(args.by) <= 64:
        return "--by must be 1..64 characters"
    return None


class _View:
    """Prints results as JSON (the API's shape) or as lines for people."""

    def __init__(self, as_json: bool, tz: tzinfo, out: TextIO, now: datetime) -> None:
        self.as_json, self.tz, self.out, self.now = as_json, tz, out, now

    def json(self, data: object) -> None:
        print(json.dumps(data, ensure_ascii=False, default=json_default), file=self.out)

    def line(self, text: str) -> None:
        print(text, file=self.out)

    def local(self, moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")


async def _list(store: Store, args: argparse.Namespace, view: _View) -> int:
    tasks = await store.callbacks.list(
        args.state, args.line, args.min_age_s, args.limit, args.offset, now=view.now
    )
    if view.as_json:
        view.json(
            {
                "callbacks": [task_json(t, view.now) for t in tasks],
                "limit": args.limit,
                "offset": args.offset,
            }
        )
        return 0
    if not tasks:
        view.line("no callback tasks")
        return 0
    view.line(f"{'ID':>6}  {'STATE':<11} {'NUMBER':<16} {'LINE':<10} MISSES PRIO  "
              f"{'FIRST MISSED':<16}  {'DUE':<16}  TRIES  REASONS")  # fmt: skip
    for t in tasks:
        view.line(
            f"{t.id:>6}  {t.state.value:<11} {t.dial_number:<16} {t.line or '-':<10} "
            f"{t.miss_count:>6} {t.priority:>4}  {view.local(t.first_missed_at):<16}  "
            f"{view.local(t.due_at):<16}  {t.attempts:>5}  {', '.join(t.reasons)}"
        )
    return 0


async def _show(store: Store, task_id: int, view: _View) -> int:
    task = await store.callbacks.get(task_id)
    if task is None:
        print(f"no callback task {task_id}", file=sys.stderr)
        return 1
    misses = await store.callbacks.misses_of(task_id)
    if view.as_json:
        view.json({**task_json(task, view.now), "misses": [miss_json(m) for m in misses]})
    else:
        view.line(_describe(task, misses, view))
    return 0


def _describe(task: CallbackTask, misses: list[MissRow], view: _View) -> str:
    age = timedelta(minutes=round((view.now - task.first_missed_at).total_seconds() / 60))
    lines = [
        f"callback {task.id}  {task.state.value}  {task.number_e164}"
        + (f" (call back on {task.callback_number})" if task.callback_number else ""),
        f"  patient:       {task.patient_id or '-'}  line: {task.line or '-'}",
        f"  first missed:  {view.local(task.first_missed_at)} ({age} ago)"
        + ("  kept their place" if task.keep_place else ""),
        f"  last missed:   {view.local(task.last_missed_at)}  misses: {task.miss_count}",
        f"  priority:      {task.priority}  due: {view.local(task.due_at)}",
        f"  attempts:      {task.attempts}, last {view.local(task.last_attempt_at)}"
        f" {task.last_outcome or ''}".rstrip(),
        f"  operator:      {task.preferred_operator_id or '-'}",
    ]
    if task.closed_at is not None:
        lines.append(
            f"  closed:        {view.local(task.closed_at)} {task.close_reason}"
            f" by {task.closed_by or task.closed_call_id or 'the router'}"
        )
    if task.note:
        lines.append(f"  note:          {task.note}")
    lines.append("  misses:")
    lines.extend(
        f"    {view.local(m.missed_at)}  {m.reason:<14} waited {m.waited_s:.0f} s  call {m.call_id}"
        for m in misses
    )
    return "\n".join(lines)


async def _close(store: Store, args: argparse.Namespace, view: _View) -> int:
    try:
        if args.callbacks_command == "cancel":
            task = await store.callbacks.cancel(args.task_id, args.by, view.now)
        else:
            task = await store.callbacks.done(args.task_id, args.by, view.now, args.note)
    except TaskClosedError as exc:
        print(f"callback task {args.task_id} is already {exc.task.state.value}", file=sys.stderr)
        return 1
    if task is None:
        print(f"no callback task {args.task_id}", file=sys.stderr)
        return 1
    if view.as_json:
        view.json(task_json(task, view.now))
    else:
        view.line(f"callback {task.id}: {task.state.value} by {task.closed_by}")
    return 0


async def _summary(store: Store, days: int, view: _View) -> int:
    since = None if days == 0 else view.now - timedelta(days=days)
    figures = summary_json(await store.callbacks.summary(view.now, since))
    if view.as_json:
        view.json(figures)
        return 0
    period = "all history" if since is None else f"the last {days} day(s)"
    median = figures["median_time_to_callback_s"]
    share = figures["share_closed_connected"]
    oldest = figures["oldest_open_age_s"]
    view.line(f"open tasks:            {figures['open_tasks']}")
    view.line(f"oldest open task:      {'-' if oldest is None else timedelta(seconds=oldest)}")
    view.line(f"over {period}:")
    view.line(f"  missed calls:        {figures['misses']}")
    view.line(f"  lost (anonymous):    {figures['lost_anonymous']}")
    reasons = ", ".join(f"{n} {reason}" for reason, n in figures["closed_by_reason"].items())
    view.line(f"  tasks closed:        {figures['closed']}" + (f" ({reasons})" if reasons else ""))
    view.line(f"  closed connected:    {'-' if share is None else f'{share:.0%}'}")
    view.line(f"  median to callback:  {'-' if median is None else timedelta(seconds=median)}")
    return 0
