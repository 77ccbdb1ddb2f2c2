"""Files a load run writes into its work folder: rules, patients, injection CSVs, XML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sip_test_harness.load.mix import Mix, Stream
from sip_test_harness.sandbox_agi import AGI_DID

ROUTER_DID = "74952232222"
# the benchmark's baselines, dialled through the endpoint bench-trunk (sandbox_config)
MODE_DID_PREFIX = {"dial": "900", "queue": "901", "minimal": "902"}


def load_operators(count: int) -> list[str]:
    """``lop001``..``lopK`` (the sandbox has 200)."""
    if not 1 <= count <= 200:
        raise ValueError(f"--operators must be 1..200, got {count}")
    return [f"lop{n:03d}" for n in range(1, count + 1)]


def rules_yaml(
    operators: Sequence[str], ivr: bool = True, *, agi: bool = False, managers: bool = False
) -> str:
    """The rules of a load run: the load operators (one team, one skill) on one line.

    With ``ivr``, known callers go straight to the queue (the IVR trimmed for them) and
    the others hear a menu (a beep): 1 the queue (also the default after 2 s), 9 a callback. The
    callback policy makes a task of every miss of a caller with a number, so that a miss
    without a task counts as lost. Without ``ivr`` (the benchmark) everyone goes straight
    to the queue, as the baselines do. With ``agi`` the line is the sandbox's AGI-mode
    line (``mode: agi``, its DID: sandbox_agi.py); with ``managers`` a known caller who
    has an assigned manager is sent to the manager first (no menu), then the queue.
    """
    lines = ["format: 1", "skills:", "  paid: Paid services", "operators:"]
    for op in operators:
        lines += [
            f"  - id: {op}",
            f"    name: Load operator {op}",
            f"    endpoint: PJSIP/{op}",
            "    team: load",
            "    skills: {paid: 3}",
        ]
    did = AGI_DID if agi else ROUTER_DID
    lines += ["lines:", "  - id: load", f'    numbers: ["{did}", "+{did}"]']
    lines += ["    mode: agi"] if agi else []
    lines += ["    routes: load", "routes:", "  load:"]
    if managers:
        lines += [
            "    - name: manager",
            "      when: {caller: known, has_assigned_operator: true}",
            "      then: {assigned_operator: {wait_s: 20, otherwise: {queue: paid}}}",
        ]
    if ivr:
        lines += [
            "    - {name: known, when: {caller: known}, then: {queue: paid}}",
            "    - {name: others, then: {menu: main}}",
            "menus:",
            "  main:",
            "    prompt: beep",  # Asterisk's own short sound: the menu costs ~2 s, not a speech
            "    timeout_s: 2",
            "    retries: 0",
            '    default: "1"',
            "    options:",
            '      - {key: "1", label: Paid services, then: {queue: paid}}',
            '      - {key: "9", label: Call me back, then: {callback: {}}}',
        ]
    else:
        lines += ["    - {name: everyone, then: {queue: paid}}"]
    lines += [
        "queues:",
        "  paid:",
        "    max_wait_s: 120",
        "    steps: [{after_s: 0, skills: [paid]}]",
        "callback:",
        "  min_abandon_s: 0",
    ]
    return "\n".join(lines) + "\n"


def caller_number(stream_index: int, stream: Stream, n: int) -> str:
    """A distinct From user per call (known ones are imported as patients)."""
    if stream.caller == "anonymous":
        return "anonymous"
    prefix = "7916" if stream.caller == "known" else "7999"
    return f"{prefix}{stream_index}{n:06d}"


def did_for(mode: str, n: int, answering: Sequence[str]) -> str:
    """The number dialled: the clinic's DID, or a baseline's prefix (Dial: the operator)."""
    if mode == "router":
        return ROUTER_DID
    if mode == "agi":
        return AGI_DID
    if mode == "dial":
        op = answering[n % len(answering)]
        return f"900{op[3:]}{n:05d}"
    return f"{MODE_DID_PREFIX[mode]}{n:06d}"


@dataclass(frozen=True)
class StreamFiles:
    """Injection file and numbers of one caller stream."""

    stream: Stream
    injection: Path
    numbers: tuple[str, ...]


def write_streams(
    folder: Path,
    mix: Mix,
    counts: Mapping[str, int],
    mode: str,
    answering: Sequence[str],
) -> list[StreamFiles]:
    """One ``-inf`` file per stream: ``from;did;`` per call, in order."""
    out = []
    for index, stream in enumerate(mix.streams):
        numbers = tuple(caller_number(index, stream, n) for n in range(counts[stream.name]))
        lines = ["SEQUENTIAL"]
        lines += [f"{num};{did_for(mode, n, answering)};" for n, num in enumerate(numbers)]
        path = folder / f"{stream.name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="ascii")
        out.append(StreamFiles(stream, path, numbers))
    return out


def patients_csv(streams: Sequence[StreamFiles], managers: Sequence[str] = ()) -> str:
    """Patients for the known callers' numbers (for ``clinic-router patients import``);
    with ``managers``, each patient's assigned operator, in turn."""
    lines = ["patient_id,name,phones" + (",assigned_operator" if managers else "")]
    for files in streams:
        if files.stream.caller != "known":
            continue
        for n, num in enumerate(files.numbers):
            manager = f",{managers[n % len(managers)]}" if managers else ""
            lines.append(f"L{num},Load patient {num},+{num}{manager}")
    return "\n".join(lines) + "\n"
