"""`clinic-router replay --from … --to … [--rules NEW.yaml] [--roster ROSTER.yaml]`: the
period's recorded calls as they happened, replayed with the current rules and operators
(the model's own error), and replayed with the new rules and/or roster, side by side.

Exit codes: 0 done, 2 bad arguments, rules or roster, or the database cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

import yaml

from router.cli.patients import unknown_zone, zone
from router.cli.store import with_store
from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.config.settings import Settings
from router.domain.journey import last_resort, plan_journey
from router.domain.operators import OperatorStatus, Presence
from router.domain.replay.inputs import (
    arrival,
    day_start,
    duty_intervals,
    midnights_s,
    operator_models,
    patience_of,
)
from router.domain.replay.model import Duty, ReplaySettings, replay
from router.domain.replay.plan import Plan, waits_of
from router.domain.replay.roster import RosterError, duty_as_happened, roster_duty, roster_from
from router.domain.replay.runs import mean_figures
from router.domain.reports import CallRecord, ReportData
from router.domain.reports.calls import CallFigures, call_sums, figures_of
from router.domain.reports.export import to_csv, to_table
from router.domain.reports.period import PeriodError, parse_period
from router.domain.reports.report import calls_json
from router.domain.routing import RoutesTarget, Target
from router.engine.facts import caller_facts
from router.report_view import ReportQuery, queue_targets, report_of
from router.storage.models import PatientRecord
from router.storage.replay_rows import answered_by_operator, menu_keys, patient_ids
from router.storage.store import Store

RUNS = 5  # replays averaged: one moves by ~3 points of service level from seed to seed
AFTER_END_S = 2 * 86400.0  # how long after the period's end a replayed call may still run
COMPARED = (
    "offered", "answered", "abandoned", "no_operator", "callback_promised",
    "service_level", "asa_s", "wait_p50_s", "wait_p90_s", "wait_max_s", "talk_avg_s",
)  # fmt: skip


def add_replay_parser(subparsers: Any, default_config: str) -> None:
    parser = subparsers.add_parser("replay", help="what-if: replay a period with new rules/roster")
    parser.add_argument("--from", dest="start", required=True, help="first day or time")
    parser.add_argument("--to", dest="end", required=True, help="last day (whole) or end time")
    parser.add_argument("--rules", help="the rules to try (default: only the current rules)")
    parser.add_argument("--roster", help="who is on duty when (default: as it happened)")
    parser.add_argument("--seed", type=int, default=16, help="same seed, same replay")
    parser.add_argument(
        "--runs", type=_positive, default=RUNS,
        help=f"replays averaged, seeds SEED, SEED+1, ... (default {RUNS})",
    )  # fmt: skip
    parser.add_argument("--tz", help="zone of days and the roster (default console.timezone)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--config", default=default_config, help="settings (router.yaml)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class _Inputs:
    current: Rules
    new: Rules | None
    duty: Duty | None  # from --roster; None: as it happened
    tz: tzinfo
    period: tuple[datetime, datetime]
    query: ReportQuery  # the report of the period: `as_happened`, and every column's targets


async def run_replay(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        inputs = _inputs(args, settings)
    except (ConfigError, RosterError, PeriodError, OSError, yaml.YAMLError) as exc:
        lines = [i.format() for i in exc.issues] if isinstance(exc, ConfigError) else [str(exc)]
        print("\n".join(lines), file=sys.stderr)
        return 2

    async def command(store: Store) -> int:
        rows = await _compare(store, settings, inputs, range(args.seed, args.seed + args.runs))
        out.write(_render(rows, inputs, args.format))
        return 0

    return await with_store(settings, command)


def _inputs(args: argparse.Namespace, settings: Settings) -> _Inputs:
    tz = zone(args.tz or settings.console.timezone)
    if tz is None:
        raise PeriodError(unknown_zone(args.tz))
    period = parse_period(args.start, args.end, tz, datetime.now(UTC))
    current = load_rules(settings.routing.rules)
    new = load_rules(args.rules) if args.rules else None
    duty = None
    if args.roster:
        roster = roster_from(yaml.safe_load(Path(args.roster).read_text(encoding="utf-8")))
        duty = roster_duty(roster, period, tz)
    query = ReportQuery(
        period, datetime.now(UTC).replace(microsecond=0), tz,
        sl_target_s=settings.console.service_level_s, sl_targets=queue_targets(current),
        overdue_after_s=settings.console.callback_overdue_min * 60,
    )  # fmt: skip
    return _Inputs(current, new, duty, tz, period, query)


async def _compare(
    store: Store, settings: Settings, inputs: _Inputs, seeds: range
) -> list[dict[str, Any]]:
    start, end = inputs.period
    # As it happened is the report itself (same query, same code), so the two agree.
    happened = (await report_of(store, inputs.query, inputs.period)).total
    data = await store.reports.period(start, end, ledger=False)  # calls, rings, states
    # Calls the router never saw (the fallback's misses while it was down) are offered
    # in the report but cannot be replayed: they count in every column as they happened.
    unseen = max(0, happened.offered - len(data.calls))
    replay_in = _ReplayIn(
        data,
        await menu_keys(store.db, start, end),
        await _patients(store, await patient_ids(store.db, start, end)),
        await answered_by_operator(store.db, day_start(start, inputs.tz), start),
        unseen,
    )
    as_was = duty_as_happened(duty_intervals(data.spans, data.rings, inputs.period))
    columns = {
        "as_happened": calls_json(happened),
        "replayed_current": _run(inputs.current, as_was, replay_in, settings, inputs, seeds),
    }
    if inputs.new is not None or inputs.duty is not None:
        rules = inputs.new or inputs.current
        new = _run(rules, inputs.duty or as_was, replay_in, settings, inputs, seeds)
        columns["replayed_new"] = new
    return [{"figure": k, **{name: col[k] for name, col in columns.items()}} for k in COMPARED]


@dataclass(frozen=True, slots=True)
class _ReplayIn:
    """What the database says of the period, for every replayed column."""

    data: ReportData
    keys: dict[str, list[str | None]]  # menu keys by call
    records: dict[str, PatientRecord]  # patients by call
    calls_today: dict[str, int]  # each operator's calls answered before the start, that day
    unseen: int  # calls only the fallback's misses know of


def _run(
    rules: Rules,
    duty: Duty,
    given: _ReplayIn,
    settings: Settings,
    inputs: _Inputs,
    seeds: range,
) -> dict[str, Any]:
    """The period replayed once per seed, its figures averaged (`mean_figures`)."""
    data, start = given.data, inputs.period[0]
    patience = patience_of(data.calls)
    busy = {op.id: OperatorStatus(op, Presence.ON_CALL) for op in rules.operators}
    calls = sorted(data.calls, key=lambda c: (c.started_at, c.id))
    plans = [
        _plan(rules, call, busy, given.keys.get(call.id, []), given.records, settings)
        for call in calls
    ]
    models = operator_models(
        rules.operators, data.rings, data.calls, data.spans, inputs.period,
        settings.routing.wrap_up_s,
    )  # fmt: skip
    days = midnights_s(inputs.period, inputs.tz, AFTER_END_S)
    runs = []
    for seed in seeds:
        rnd = random.Random(seed)
        arrivals = [
            arrival(call, plan, start, patience, rnd)
            for call, plan in zip(calls, plans, strict=True)
        ]
        cfg = ReplaySettings(start, seed, settings.routing.ring_timeout_s, given.calls_today, days)
        replayed: list[CallRecord] = replay(arrivals, models, duty, cfg)
        runs.append(calls_json(_figures(replayed, given.unseen, inputs.query)))
    return mean_figures(runs)


def _figures(replayed: list[CallRecord], unseen: int, query: ReportQuery) -> CallFigures:
    """The replayed calls' figures against the report's own targets (the current rules'
    queues, also under --rules: a new target would move the yardstick, not the calls)."""
    sums = call_sums(replayed, query.sl_targets, query.sl_target_s)
    return figures_of("replayed", sums, unseen)


def _plan(
    rules: Rules,
    call: CallRecord,
    busy: dict[str, OperatorStatus],
    keys: list[str | None],
    records: dict[str, PatientRecord],
    settings: Settings,
) -> Plan:
    line = rules.line(call.line)
    record = records.get(call.id)
    facts = caller_facts(rules, line, record, call.started_at)
    wait = settings.routing.unrouted_max_wait_s
    start: Target = RoutesTarget(line.routes) if line else last_resort(wait)
    journey = plan_journey(rules.world(), facts, start, busy, keys, unrouted_max_wait_s=wait)
    return waits_of(journey)


async def _patients(store: Store, ids: dict[str, str]) -> dict[str, PatientRecord]:
    """Today's patient records (the replay's facts are as the store knows them now)."""
    found: dict[str, PatientRecord] = {}
    cache: dict[str, PatientRecord | None] = {}
    for call_id, patient_id in ids.items():
        if patient_id not in cache:
            cache[patient_id] = await store.patients.get(patient_id)
        record = cache[patient_id]
        if record is not None:
            found[call_id] = record
    return found


def _render(rows: list[dict[str, Any]], inputs: _Inputs, form: str) -> str:
    start, end = (t.isoformat() for t in inputs.period)
    if form == "json":
        return json.dumps({"start": start, "end": end, "rows": rows}, indent=2) + "\n"
    if form == "csv":
        return to_csv(rows)
    return f"replay {start} .. {end}\n" + to_table(rows)
