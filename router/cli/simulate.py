"""`clinic-router simulate`: what a caller would experience, step by step, without a call.

    clinic-router simulate --line +74952232222 --caller +79161234567 \\
        --at "2026-12-31 20:15" [--press 2] [--press patient=1] \\
        [--operators-state FILE] [--patients FILE.csv]

It loads the rules the router would load, finds the patient (from `--patients`, or the
router's patient store when its database exists), and runs the pure core's
`plan_journey`: the same route, menu, queue-step and callback decisions the engine makes.
Bad arguments print one clear line each and exit 2; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from router.agi.explain import agi_explain
from router.cli.simulate_presses import Presses, UsageError, shared_phone_choice, step
from router.config.check import DEFAULT_SETTINGS_PATH, SETTINGS_FILE_NAME, display_path
from router.config.errors import ConfigError
from router.config.rules import Rules, load_rules
from router.config.rules_build import Line
from router.config.settings import RoutingSettings
from router.config.yamlsafe import YamlDocument, load_yaml
from router.domain.journey import Journey, last_resort, plan_journey
from router.domain.operators import OperatorStatus, Presence
from router.domain.phone import normalise_caller
from router.domain.routing import RoutesTarget, Target
from router.engine.facts import caller_facts, zone_of
from router.storage.models import PatientRecord


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `simulate` to the `clinic-router` sub-commands (`run_simulate` handles it)."""
    sim = subparsers.add_parser(
        "simulate", help="show what a caller would experience, step by step"
    )
    sim.add_argument("--line", required=True, help="the dialled number, e.g. +74952232222")
    sim.add_argument("--caller", required=True, help="the caller's number (or 'anonymous')")
    sim.add_argument("--at", default=None, help='local time "YYYY-MM-DD HH:MM" (default: now)')
    sim.add_argument(
        "--press",
        action="append",
        default=[],
        help="a key pressed, in the order the caller is asked (shared-phone question, then"
        " menus); '-' for no key; 'patient=KEY' for the shared-phone question only",
    )
    sim.add_argument("--operators-state", default=None, help="YAML/JSON {op_id: state}")
    sim.add_argument("--patients", default=None, help="patients CSV instead of the store")
    sim.add_argument("--appointment", default=None, help="YYYY-MM-DD, today or tomorrow")
    sim.add_argument("--config", default=str(DEFAULT_SETTINGS_PATH), help="router.yaml or rules")
    sim.add_argument("--format", choices=("text", "json"), default="text")
    return sim  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Patient:
    records: tuple[PatientRecord, ...]  # every patient on the number
    source: str  # what was searched, for the trace


def run_simulate(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run `simulate` with parsed arguments; print the trace; return the exit code."""
    stream = out if out is not None else sys.stdout
    try:
        report = simulate(args)
    except ConfigError as e:
        for issue in e.issues:
            print(issue.format(), file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"clinic-router simulate: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2), file=stream)
    else:
        print(render_text(report), file=stream)
    return 0


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    config = Path(args.config)
    rules, settings_doc = _load(config)
    routing = _routing_settings(settings_doc, config)

    def find(e164: str | None, zone: ZoneInfo) -> Patient:
        return _find_patient(e164, args.patients, settings_doc, config, zone)

    return simulate_with(rules, routing, args, find)


FindPatient = Callable[[str | None, ZoneInfo], Patient]  # (caller's E.164, line's zone)


def simulate_with(
    rules: Rules, routing: RoutingSettings, args: argparse.Namespace, find: FindPatient
) -> dict[str, Any]:
    """`simulate` on rules already loaded (the console gives the rules in force and its
    own patient store); `args` as the command's (line, caller, at, press, ...)."""
    presses = Presses.parse(args.press)
    line = rules.line_for(args.line)
    before: list[dict[str, Any]] = []
    start: Target
    if line is None:
        # The live router answers it all the same (call.py: no line -> the last resort).
        numbers = ", ".join(n for ln in rules.lines for n in ln.numbers) or "none defined"
        said = f"no line lists the number {args.line} (lines: {numbers})"
        before.append(step("line", f"{said}; the live router answers it all the same"))
        start = last_resort(routing.unrouted_max_wait_s)
    else:
        start = RoutesTarget(line.routes)
    zone = zone_of(rules, line)
    now = _parse_at(args.at, zone)
    caller = normalise_caller(args.caller, area_code=line.area_code if line else None)
    patient = find(caller.e164, zone)
    record, choice = shared_phone_choice(patient.records, presses, routing.shared_phone_prompt)
    if choice is not None:
        before.append(choice)
    if line is None:
        before.append(step("route", f"no line: the last resort, {_resort(routing)}"))
    facts = caller_facts(rules, line, record, now, _appointments(args.appointment, now.date()))
    statuses = _statuses(rules, args.operators_state)
    journey = plan_journey(
        rules.world(),
        facts,
        start,
        statuses,
        presses.in_order,
        has_number=caller.e164 is not None,
        unrouted_max_wait_s=routing.unrouted_max_wait_s,
    )
    caller_text = caller.e164 or f"{caller.status}"
    report = _report(rules, line, args, caller_text, now, patient, record, journey)
    report["steps"][:0] = before
    if line is not None and line.mode == "agi":  # what the AGI dialplan gets (agi-mode.md)
        report["agi"] = agi_explain(rules, facts, journey, start, routing.unrouted_max_wait_s)
    return report


def _resort(routing: RoutingSettings) -> str:
    return (
        f"any operator, waiting up to {routing.unrouted_max_wait_s} s (routing.unrouted_max_wait_s)"
    )


def _routing_settings(doc: YamlDocument | None, config: Path) -> RoutingSettings:
    """The settings' `routing` section (the last resort's wait, the shared-phone prompt);
    the defaults when only a rules file was given."""
    raw = doc.data.get("routing") if doc is not None and isinstance(doc.data, Mapping) else None
    base = (config if config.is_dir() else config.parent).resolve()
    try:
        return RoutingSettings.model_validate(raw or {}, context={"base_dir": base})
    except ValueError:
        raise UsageError(
            f"{config}: the routing settings are invalid (run clinic-router check)"
        ) from None


def _load(config: Path) -> tuple[Rules, YamlDocument | None]:
    path = config / SETTINGS_FILE_NAME if config.is_dir() else config
    doc = load_yaml(path, source=display_path(path))
    data = doc.data if isinstance(doc.data, Mapping) else {}
    if "operators" in data or "skills" in data or "lines" in data:
        return load_rules(path, source=doc.source), None
    routing = data.get("routing")
    name = routing.get("rules", "rules.yaml") if isinstance(routing, Mapping) else "rules.yaml"
    rules_path = (path.resolve().parent / str(name)).resolve()
    return load_rules(rules_path, source=display_path(rules_path)), doc


def _parse_at(text: str | None, zone: ZoneInfo) -> datetime:
    if text is None:
        return datetime.now(zone)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f'--at {text!r}: write the local time as "YYYY-MM-DD HH:MM"') from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _appointments(text: str | None, today: date) -> tuple[date, ...]:
    if text is None:
        return ()
    named = {"today": today, "tomorrow": today + timedelta(days=1)}
    if text in named:
        return (named[text],)
    try:
        return (date.fromisoformat(text),)
    except ValueError:
        raise UsageError(f"--appointment {text!r}: write YYYY-MM-DD, today or tomorrow") from None


def _statuses(rules: Rules, state_file: str | None) -> dict[str, OperatorStatus]:
    states: Mapping[str, Any] = {}
    if state_file is not None:
        try:
            doc = load_yaml(state_file)  # JSON is YAML: one reader for both
        except ConfigError as e:
            raise UsageError(f"--operators-state: {e.issues[0]}") from None
        if not isinstance(doc.data, Mapping):
            raise UsageError(f"--operators-state {state_file}: expected {{op_id: state}}")
        states = doc.data
    known = [op.id for op in rules.operators]
    for op_id, state in states.items():
        if op_id not in known:
            raise UsageError(f"--operators-state: unknown operator {op_id!r} ({', '.join(known)})")
        if state not in set(Presence):
            valid = ", ".join(p.value for p in Presence)
            raise UsageError(f"--operators-state: {op_id}: unknown state {state!r} ({valid})")
    # Ties in idle time are broken by id in choose_operators, so the trace is stable.
    return {
        op.id: OperatorStatus(op, Presence(states.get(op.id, Presence.AVAILABLE)))
        for op in rules.operators
    }


def _find_patient(
    e164: str | None,
    csv_file: str | None,
    settings_doc: YamlDocument | None,
    config: Path,
    zone: ZoneInfo,
) -> Patient:
    if e164 is None:
        return Patient((), WITHHELD)
    if csv_file is not None:
        found = _from_csv(Path(csv_file), e164, zone)
        return Patient(found, f"patients file {csv_file}")
    if settings_doc is None:
        return Patient((), "no patient store (a rules file was given; try --patients)")
    return _from_store(settings_doc, config, e164)


def _from_csv(path: Path, e164: str, zone: ZoneInfo) -> tuple[PatientRecord, ...]:
    from router.storage.patients_csv import Rejected, parse_rows

    found = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for item in parse_rows(handle, tz=zone):
                if isinstance(item, Rejected):
                    raise UsageError(f"{path}:{item.line}: {item.reason}")
                if e164 in item.phones:
                    found.append(item)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--patients {path}: cannot read it ({e.__class__.__name__})") from None
    return tuple(found)


def _from_store(doc: YamlDocument, config: Path, e164: str) -> Patient:
    from router.config.settings import DatabaseSettings

    base = (config if config.is_dir() else config.parent).resolve()
    raw = doc.data.get("database") if isinstance(doc.data, Mapping) else None
    try:
        db = DatabaseSettings.model_validate(raw, context={"base_dir": base, "env": os.environ})
    except ValueError:
        return Patient((), "no patient store (database settings are invalid)")
    url = db.url.get_secret_value()
    if url.startswith("sqlite") and not Path(url.split(":///", 1)[1].split("?")[0]).is_file():
        return Patient((), f"no patient store yet ({db.display_url} does not exist)")
    return store_patient(e164, lambda n: asyncio.run(_lookup(url, n)), db.display_url)


WITHHELD = "the caller ID is withheld or invalid: not looked up"


def store_patient(
    e164: str | None, lookup: Callable[[str], Sequence[PatientRecord]], store_url: str
) -> Patient:
    """The patients on `e164` from a patient store (`store_url` without its password
    names it in the trace); an unreachable store is not fatal here."""
    if e164 is None:
        return Patient((), WITHHELD)
    try:
        found = tuple(lookup(e164))
    except (OSError, RuntimeError, ValueError) as e:
        return Patient((), f"patient store unavailable ({e.__class__.__name__})")
    return Patient(found, f"patient store {store_url}")


async def _lookup(url: str, e164: str) -> tuple[PatientRecord, ...]:
    from router.storage.store import Store

    store = await Store.open(url, migrate=False)
    try:
        return tuple(await store.patients.find_by_phone(e164))
    finally:
        await store.close()


def _report(
    rules: Rules,
    line: Line | None,
    args: argparse.Namespace,
    caller: str,
    now: datetime,
    patient: Patient,
    rec: PatientRecord | None,
    journey: Journey,
) -> dict[str, Any]:
    return {
        "rules_version": rules.version,
        "line": {
            "id": line.id if line else None,
            "dialled": args.line,
            "branch": line.branch if line else None,
        },
        "caller": caller,
        "at": now.isoformat(),
        "patient": None
        if rec is None
        else {
            "id": rec.id,
            "name": rec.name,
            "tags": list(rec.tags),
            "assigned_operator": rec.assigned_operator_id,
            "language": rec.language,
        },
        "patient_source": patient.source,
        "steps": [{"kind": s.kind, "text": s.text, **s.data} for s in journey.steps],
        "outcome": journey.outcome,
        "operator": journey.operator,
        "callback_task": journey.callback_task,
    }


def render_text(report: Mapping[str, Any]) -> str:
    line = report["line"]
    p = report["patient"]
    who = (
        f"patient {p['id']} {p['name']} (tags: {', '.join(p['tags']) or '-'}; assigned:"
        f" {p['assigned_operator'] or '-'})"
        if p
        else "unknown caller"
    )
    lines = [
        f"rules {report['rules_version']}: line {line['id'] or '(none)'} ({line['dialled']}),"
        f" caller {report['caller']}, at {report['at']}",
        f" 1. caller: {who} [{report['patient_source']}]",
    ]
    lines += [f"{i:>2}. {step['text']}" for i, step in enumerate(report["steps"], start=2)]
    outcome = report["outcome"]
    if report["operator"]:
        outcome += f" {report['operator']}"
    task = "a callback task" if report["callback_task"] else "no callback task"
    lines.append(f"=> {outcome}; {task}")
    if "agi" in report:
        lines.append(f"=> {report['agi']['text']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run as `python -m router.cli.simulate …`, the same as `clinic-router simulate …`."""
    parser = argparse.ArgumentParser(prog="clinic-router")
    add_simulate_parser(parser.add_subparsers(dest="command", required=True))
    rest = sys.argv[1:] if argv is None else list(argv)
    return run_simulate(parser.parse_args(["simulate", *rest]))


if __name__ == "__main__":
    sys.exit(main())
