"""In-process micro-benchmarks of routing decisions: median and p99 per decision (µs).

* operator selection: one waiting-room pass, 2,000 operators, 1,000 waiting calls
  (``router.domain.dispatch.assign``);
* caller lookup: ``find_by_phone`` in a 1,000,000-patient SQLite store, built once and
  cached under ``.cache/bench/`` (delete the folder to rebuild);
* rule evaluation: what the engine decides when a call arrives on the example rules
  (the file ``config/router.yaml`` names): the caller's facts, then the line's route list
  (``router.domain.routing.evaluate_routes``), for a known patient and an unknown caller;
* journal writes per call: the writes one routed call makes, through the journey writer
  into a SQLite file, batched as the router writes them and one transaction per write
  (the writer before batching), and batched with the call's first row written at once
  and waited for (``arrival_first``, as the router writes it before the answer): CPU ms
  per call, and how long a caller waits for that row (``python -m
  sip_test_harness.bench_micro journal``).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from router.config.rules import Rules, load_rules
from router.domain.dispatch import WaitingCall, assign
from router.domain.operators import Operator, OperatorStatus, Presence
from router.domain.routing import evaluate_routes
from router.engine.facts import caller_facts, zone_of
from router.engine.recorder import Recorder
from router.storage import Appointment, CallRow, PatientRecord, Store, is_transient_error
from router.storage.journal import CallEvent, CallUpdate, Journal, NewCall, RingAttempt
from router.storage.migrate import migrate
from sip_test_harness.router_process import REPO

CACHE = REPO / ".cache" / "bench"
PATIENTS = 1_000_000


@dataclass(frozen=True)
class Micro:
    """One micro-benchmark's figures."""

    name: str
    samples: int
    median_us: float
    p99_us: float
    note: str = ""


def _figures(name: str, seconds: list[float], note: str = "") -> Micro:
    data = sorted(seconds)
    p99 = data[min(len(data) - 1, int(0.99 * len(data)))]
    return Micro(
        name, len(data), round(statistics.median(data) * 1e6, 1), round(p99 * 1e6, 1), note
    )


def _timed(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def selection(operators: int = 2_000, waiting: int = 1_000, rounds: int = 1_000) -> Micro:
    """One scheduling pass of the waiting room (``router.domain.dispatch.assign``) when an
    operator frees up: 2,000 operators (most on calls), 1,000 callers waiting in
    skill-based queues, each with its own arrival time and priority."""
    rng = random.Random(7)
    skills = ("paid", "oms", "dms", "checkup", "results")
    statuses = [
        OperatorStatus(
            Operator(f"op{n:05d}", f"Operator {n}", f"PJSIP/op{n:05d}", skills={skills[n % 5]: 3}),
            presence=Presence.ON_CALL,
            idle_since=rng.random() * 3600,
        )
        for n in range(operators)
    ]
    groups = [frozenset(s.id for s in statuses if skill in s.operator.skills) for skill in skills]
    calls = [
        WaitingCall(f"c{n}", rng.choice((0, 0, 5)), rng.random() * 300, rng.choice(groups))
        for n in range(waiting)
    ]
    seconds = []
    for _ in range(rounds):
        freed = rng.choice(statuses)
        freed.presence = Presence.AVAILABLE
        began = time.perf_counter()
        pairs = assign(calls, statuses, now=400.0)
        seconds.append(time.perf_counter() - began)
        assert len(pairs) == 1  # the freed operator went to exactly one waiting caller
        freed.presence = Presence.ON_CALL
    return _figures(
        "operator selection", seconds, f"{operators} operators, {waiting} waiting calls"
    )


def example_rules() -> Rules:
    """The rules the example settings (config/router.yaml) point to."""
    settings = REPO / "config" / "router.yaml"
    routing = (yaml.safe_load(settings.read_text(encoding="utf-8")) or {}).get("routing") or {}
    return load_rules(settings.parent / str(routing.get("rules", "rules.yaml")))


# A Tuesday morning: every line of the example is open, so no caller stops at "closed".
RULES_AT = datetime(2026, 11, 24, 11, 0)
KNOWN_PATIENT = PatientRecord(
    id="P0000001",
    name="Known patient",
    phones=("+79161234567",),
    team="moscow-front",
    tags=("dms", "vip"),
    language="ru",
    preferred_branch="moscow",
    birth_year=1980,
    appointments=(Appointment(datetime(2026, 11, 25, 7, 30, tzinfo=UTC), "Dr Ivanova"),),
)


def rule_evaluation(rounds: int = 20_000) -> list[Micro]:
    """One routing decision as a call arrives on the Moscow line: the caller's facts from
    the line and the patient record, then the line's route list, the reasons of every
    skipped route included. A known patient with tags and a visit tomorrow stops at
    route 3 (`appointment-soon`); an unknown caller tries all five."""
    rules = example_rules()
    line = rules.line_for("+74952232222")
    if line is None:
        raise RuntimeError(f"{rules.loaded_from}: no line has the number +74952232222")
    now = RULES_AT.replace(tzinfo=zone_of(rules, line))
    routes = rules.routes[line.routes]
    out = []
    for who, record, expected in (
        ("known patient", KNOWN_PATIENT, "appointment-soon"),
        ("unknown caller", None, "everyone-else"),
    ):

        def decide(record: PatientRecord | None = record) -> str | None:
            facts = caller_facts(rules, line, record, now)
            route = evaluate_routes(routes, facts, rules.calendars).route
            return route.name if route else None

        matched = decide()
        if matched != expected:  # the example rules changed: say so rather than mislead
            raise RuntimeError(f"rule evaluation: {who} matched {matched!r}, not {expected!r}")
        _timed(decide, rounds // 10)  # warm-up: holiday tables, zone data
        note = f"example rules, line {line.id}, {len(routes)} routes: matches {expected}"
        out.append(_figures(f"rule evaluation ({who})", _timed(decide, rounds), note))
    return out


def _phone(n: int) -> str:
    return f"+7916{n:07d}"


async def _build_store(path: Path) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    store = await Store.open(url)
    try:
        for start in range(0, PATIENTS, 50_000):
            batch = [
                PatientRecord(
                    id=f"P{n:07d}",
                    name=f"Patient {n}",
                    phones=(_phone(n),),
                    assigned_operator_id=f"op{n % 200:03d}" if n % 4 == 0 else None,
                )
                for n in range(start, min(PATIENTS, start + 50_000))
            ]
            await store.patients.upsert(batch)
    finally:
        await store.close()


async def _lookups(path: Path, rounds: int) -> list[float]:
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    rng = random.Random(11)
    seconds = []
    try:
        for i in range(rounds):
            number = _phone(rng.randrange(PATIENTS)) if i % 2 else f"+7999{i:07d}"
            began = time.perf_counter()
            await store.patients.find_by_phone(number)
            seconds.append(time.perf_counter() - began)
    finally:
        await store.close()
    return seconds


def caller_lookup(rounds: int = 2_000, progress: Callable[[str], None] = print) -> Micro:
    """Half known, half unknown numbers, through the router's own repository."""
    path = CACHE / "patients-1m.db"
    done = CACHE / "patients-1m.done"
    if not done.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        progress(f"building the {PATIENTS:,}-patient store once ({path})...")
        began = time.monotonic()
        asyncio.run(_build_store(path))
        done.write_text(f"built in {time.monotonic() - began:.0f} s\n")
    seconds = asyncio.run(_lookups(path, rounds))
    return _figures("caller lookup", seconds, f"{PATIENTS:,} patients, SQLite, find_by_phone")


@dataclass(frozen=True)
class JournalFigures:
    """CPU per call of the journal writes, each way of writing them."""

    calls: int
    rate: float
    writes_per_call: int
    cpu_ms_per_call: dict[str, float]  # way -> median over the rounds, driver's CPU removed
    arrival_wait_ms: tuple[float, float] = (0.0, 0.0)  # arrival_first's wait: median, p99


class _PerWrite:
    """One transaction per write: the journey writer before batching."""

    def __init__(self, recorder: Recorder, store: Store) -> None:
        self.recorder, self.calls = recorder, store.calls

    def create(self, row: CallRow) -> None:
        self.recorder.submit("create", lambda: self.calls.create(row))

    def update(self, call_id: str, **fields: object) -> None:
        self.recorder.submit("update", lambda: self.calls.update(call_id, **fields))

    def event(self, call_id: str, kind: str, data: dict[str, object]) -> None:
        at = datetime.now(UTC)
        self.recorder.submit("event", lambda: self.calls.append_event(call_id, kind, data, at))

    def ring(self, call_id: str, operator_id: str, leg: str) -> None:
        ended = datetime.now(UTC)
        begun = ended - timedelta(milliseconds=800)
        self.recorder.submit(
            "ring",
            lambda: self.calls.record_ring_attempt(
                call_id=call_id,
                operator_id=operator_id,
                channel_id=leg,
                started_at=begun,
                ended_at=ended,
                result="answered",
                duration_ms=800,
            ),
        )


class _Batched:
    """Journal records, as `CallContext.recorder_*` queue them."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def create(self, row: CallRow) -> None:
        self.recorder.record(NewCall(row))

    def update(self, call_id: str, **fields: object) -> None:
        self.recorder.record(CallUpdate(call_id, fields))

    def event(self, call_id: str, kind: str, data: dict[str, object]) -> None:
        self.recorder.record(CallEvent(call_id, kind, data, datetime.now(UTC)))

    def ring(self, call_id: str, operator_id: str, leg: str) -> None:
        ended = datetime.now(UTC)
        begun = ended - timedelta(milliseconds=800)
        self.recorder.record(RingAttempt(call_id, operator_id, leg, begun, ended, "answered", 800))


class _ArrivalFirst(_Batched):
    """As the router writes since the kill fix: the call's row is written at once and
    waited for (`CallContext.record_arrival`), the rest batched."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.waits: list[float] = []

    async def arrive(self, row: CallRow) -> None:
        began = time.perf_counter()
        await self.recorder.record_now(NewCall(row), 0.5)
        self.waits.append(time.perf_counter() - began)


_Sink = _PerWrite | _Batched | None  # None: the driver alone, to subtract its CPU
WRITES_PER_CALL = 12  # 1 create, 6 events, 4 updates, 1 ring attempt


async def _one_call(sink: _Sink, n: int, step_s: float) -> None:
    """What a routed call writes (as `router.engine.inbound.call` does), spread over its life."""
    cid, number, leg = f"bench-{n:06d}", f"+7916{n:07d}", f"bench-{n:06d};op-1"
    steps: list[Callable[[_PerWrite | _Batched], None]] = [
        lambda s: s.create(CallRow(cid, "clinic-router", number, "100", datetime.now(UTC))),
        lambda s: s.event(cid, "arrived", {"did": "100", "line": "main"}),
        lambda s: s.update(cid, caller_e164=number, phase="routing"),
        lambda s: s.event(cid, "identified", {"patient": None, "known": False}),
        lambda s: s.event(cid, "queued", {"queue": "general", "step": 0}),
        lambda s: s.update(cid, tried_operators=["op001"], operator_channel_id=leg),
        lambda s: s.event(cid, "ringing", {"operator": "op001", "leg": leg}),
        lambda s: s.ring(cid, "op001", leg),
        lambda s: s.update(cid, phase="bridged", answered_at=datetime.now(UTC), bridge_id=cid),
        lambda s: s.event(cid, "answered", {"operator": "op001"}),
        lambda s: s.update(cid, phase="ended", outcome="answered", ended_at=datetime.now(UTC)),
        lambda s: s.event(cid, "outcome", {"outcome": "answered", "operator": "op001"}),
    ]
    if isinstance(sink, _ArrivalFirst):
        await sink.arrive(CallRow(cid, "clinic-router", number, "100", datetime.now(UTC)))
        steps = steps[1:]
    for step in steps:
        if sink is not None:
            step(sink)
        await asyncio.sleep(step_s)


async def _journal_round(
    way: str, folder: Path, calls: int, rate: float, waits: list[float]
) -> float:
    """CPU seconds (every thread of this process) to write `calls` calls' journals;
    `waits` gets arrival_first's waits for the first row."""
    url = f"sqlite+aiosqlite:///{folder / f'{way}.db'}"
    await migrate(url)
    store = await Store.open(url)
    if way in ("batched", "arrival_first"):
        recorder = Recorder(Journal(store.db).apply, is_transient=is_transient_error)
    else:  # as the writer was: every write alone, as soon as it is queued
        recorder = Recorder(is_transient=is_transient_error, linger_s=0)
    sink: _Sink = None
    if way == "batched":
        sink = _Batched(recorder)
    elif way == "arrival_first":
        sink = _ArrivalFirst(recorder)
    elif way == "per_write":
        sink = _PerWrite(recorder, store)
    writer = asyncio.create_task(recorder.run())
    try:
        began = time.process_time()
        tasks = []
        for n in range(calls):
            tasks.append(asyncio.create_task(_one_call(sink, n, 0.05)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
        if not await recorder.flush(60):
            raise RuntimeError(f"{way}: the journal was not written within 60 s")
        if isinstance(sink, _ArrivalFirst):
            waits += sink.waits
        return time.process_time() - began
    finally:
        writer.cancel()
        await store.close()


def journal_writes(calls: int = 200, rate: float = 40.0, rounds: int = 3) -> JournalFigures:
    """CPU per call of one call's journal writes at `rate` calls/s, ways interleaved."""
    ways = ("driver", "per_write", "batched", "arrival_first")
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    waits: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        for r in range(rounds):
            for way in ways:
                folder = Path(tmp) / str(r)
                folder.mkdir(exist_ok=True)
                seconds[way].append(asyncio.run(_journal_round(way, folder, calls, rate, waits)))
    driver = statistics.median(seconds["driver"])
    per_call = {
        way: round((statistics.median(seconds[way]) - driver) * 1000 / calls, 2) for way in ways[1:]
    }
    wait = _figures("arrival wait", waits)
    wait_ms = (round(wait.median_us / 1000, 2), round(wait.p99_us / 1000, 2))
    return JournalFigures(calls, rate, WRITES_PER_CALL, per_call, wait_ms)


def run_all(progress: Callable[[str], None] = print) -> list[Micro]:
    """Every micro-benchmark of a decision (the journal figures are separate)."""
    return [selection(), caller_lookup(progress=progress), *rule_evaluation()]


def main(argv: list[str]) -> int:
    """``python -m sip_test_harness.bench_micro journal|rules``: one benchmark alone."""
    if argv[1:] == ["rules"]:
        for m in rule_evaluation():
            print(f"{m.name}: median {m.median_us} µs, p99 {m.p99_us} µs ({m.note})")
        return 0
    if argv[1:] != ["journal"]:
        print("usage: python -m sip_test_harness.bench_micro journal|rules", file=sys.stderr)
        return 2
    figures = journal_writes()
    print(
        f"journal writes per call ({figures.writes_per_call} writes, {figures.calls} calls "
        f"at {figures.rate:g}/s, SQLite file): "
        + ", ".join(f"{way} {ms} CPU ms/call" for way, ms in figures.cpu_ms_per_call.items())
        + "; the caller's wait for the first row: median {} ms, p99 {} ms".format(
            *figures.arrival_wait_ms
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
