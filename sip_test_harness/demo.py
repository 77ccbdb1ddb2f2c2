"""`make demo`: the sandbox Asterisk, the router on the embedded defaults, scripted calls.

Prints one line per call: caller, route, operator, wait, outcome, as the router's
journeys record them (not as the script intended: what you see is what happened).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from router.engine.fallback_misses import FAMILY as FALLBACK_FAMILY
from sip_test_harness.lock import sandbox_lock
from sip_test_harness.router_process import REPO, RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.scenarios import Behaviour
from sip_test_harness.sipp import Phones, place_call

DEMO_DIR = REPO / ".cache" / "demo"
MOSCOW = "74952232222"
PHONES = {
    "op1001": Behaviour("answer", answer_after=1),
    "op1002": Behaviour("never"),  # a phone nobody picks up
    "op1003": Behaviour("answer", answer_after=1),
    "op1004": Behaviour("busy"),  # on another line: 486 Busy
    "op1005": Behaviour("answer", answer_after=1),
    "op1006": Behaviour("answer", answer_after=1),
    "op1007": Behaviour("answer", answer_after=2),
    "op1008": Behaviour("answer", answer_after=1),
}
PATIENTS = (
    "patient_id,name,phones,assigned_operator,tags,language\n"
    "p-1001,Анна Петрова,+79161234567,op1006,dms,ru\n"
    "p-1002,Игорь Белов,+79161110002,,dms,ru\n"
    "p-1003,John Smith,+79161110003,,,en\n"
)
FULL_MENU = ("clinic-main-menu", *(f"clinic-opt-{o}" for o in ("paid", "oms", "dms", "checkup")))
FULL_MENU += tuple(f"clinic-opt-{o}" for o in ("dentistry", "children", "english"))


@dataclass(frozen=True)
class Script:
    caller: str
    did: str
    note: str
    hangup_after: float = 3.0
    dtmf: str = ""
    after_menu: bool = False  # press only once the whole menu has been heard


CALLS = (
    Script(
        "79990000001",
        MOSCOW,
        "new caller: hears the whole menu, presses 1",
        dtmf="1",
        after_menu=True,
    ),
    Script(
        "89990000002",
        MOSCOW,
        "new caller presses 6 at once (dentistry): a busy phone is skipped",
        dtmf="6",
    ),
    Script("+79161234567", MOSCOW, "patient with an assigned manager: no menu"),
    Script(
        "+79161110002",
        "+" + MOSCOW,
        "DMS patient: no menu; the first DMS phone rings out (5 s)",
        hangup_after=10,
    ),
    Script("+79161110003", MOSCOW, "patient marked English: the English queue"),
    Script("79990000006", MOSCOW, "hangs up during the menu", hangup_after=1.0),
    Script("anonymous", MOSCOW, "withheld number, presses nothing: the default", hangup_after=60),
)


def _steps(call: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in call["journey"] if s["kind"] == kind]


def _route(call: dict[str, Any]) -> str:
    parts = [
        f"route {s['data']['matched']}" for s in _steps(call, "route") if s["data"].get("matched")
    ]
    for menu in _steps(call, "menu"):
        data = menu["data"]
        how = {"auto": "auto", "skip": "only option", "play": "pressed"}.get(data["action"], "")
        key = data.get("chosen") or "-"
        parts.append(
            f"menu {how} {key}"
            if data.get("pressed") or data["action"] != "play"
            else f"menu default {key}"
        )
    skipped = [a for a in call["tried_operators"] if a != call["operator_id"]]
    if skipped:
        parts.append(f"rang {', '.join(skipped)} first")
    return "; ".join(parts) or "-"


def _since_arrival(call: dict[str, Any], kind: str) -> float | None:
    arrived, found = _steps(call, "arrived"), _steps(call, kind)
    if not arrived or not found:
        return None
    start = datetime.fromisoformat(arrived[0]["at"])
    return (datetime.fromisoformat(found[0]["at"]) - start).total_seconds()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _line(script: Script, call: dict[str, Any]) -> str:
    caller = call["caller"] or f"{script.caller} (unknown)"
    return (
        f"{caller:<19} {_route(call):<54} {call['operator_id'] or '-':<7} "
        f"{_seconds(_since_arrival(call, 'ringing')):>6} "
        f"{_seconds(_since_arrival(call, 'connected')):>6}  {call['outcome']}"
    )


def _menu_length(sandbox: Sandbox) -> float:
    """Seconds the full main menu takes to play (the demo prompts as installed)."""
    folder = sandbox.sounds_dir("ru")
    total = 0.0
    for name in FULL_MENU:
        try:
            with wave.open(str(folder / f"{name}.wav")) as audio:
                total += audio.getnframes() / audio.getframerate()
        except (OSError, wave.Error):
            continue
    return total


async def _run(router: RouterProcess, menu_s: float) -> int:
    async with Phones(PHONES):
        for n, script in enumerate(CALLS, 1):
            print(f"call {n}: {script.caller} -> {script.did}: {script.note}", file=sys.stderr)
            result = await place_call(
                script.caller,
                script.did,
                dtmf=script.dtmf,
                dtmf_delay=menu_s + 0.5 if script.after_menu else 1.5,
                hangup_after=script.hangup_after,
                timeout=90,
            )
            if not result.ok:
                print(f"  SIP side: {result.describe()}", file=sys.stderr)
            await asyncio.sleep(0.5)  # let the operator phone settle before the next call
    calls = list(reversed(await router.wait_calls(len(CALLS), timeout=30)))
    print()
    print("ring: seconds from answer to the operator's phone ringing (route length);")
    print("talk: to the operator answering.")
    print(f"{'caller':<19} {'route':<54} {'op':<7} {'ring':>6} {'talk':>6}  outcome")
    for script, call in zip(CALLS, calls, strict=False):
        print(_line(script, call))
    lost = [c for c in calls if not c["outcome"]]
    return 1 if lost or len(calls) != len(CALLS) else 0


# Console users of the demo (docs/console.md); one password for all, new every run.
DEMO_USERS = (
    ("demo-admin", "admin", None),
    ("demo-supervisor", "supervisor", None),
    ("demo-op1001", "operator", "op1001"),
)
KEEP_ENV = "DEMO_KEEP_S"  # `make demo KEEP=60`: keep the router up that long at the end


def _print_console(router: RouterProcess, password: str) -> None:
    url = f"http://127.0.0.1:{router.port}/console/"
    print()
    print(f"console: {url}  (wallboard, calls, callbacks, rules, audit)")
    print(f"sign in as demo-admin, demo-supervisor or demo-op1001, password {password}")
    if not os.environ.get(KEEP_ENV):
        print("(the router stops now; `make demo KEEP=60` keeps it up for a minute)")


def demo_rules(today: str) -> Path:
    """The example rules, open all day today: the demo must not depend on the hour."""
    data = yaml.safe_load((REPO / "config" / "rules.yaml").read_text(encoding="utf-8"))
    for calendar in data["calendars"].values():
        calendar.setdefault("overrides", []).append(
            {"date": today, "hours": "00:00-23:59", "note": "demo: open all day"}
        )
    path = DEMO_DIR / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


async def demo() -> int:
    sandbox = Sandbox()
    was_up = sandbox.status().running
    await asyncio.to_thread(sandbox.up)
    # Fallback calls nobody answered before the demo would join its table as calls.
    await asyncio.to_thread(sandbox.cli, f"database deltree {FALLBACK_FAMILY}")
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    today = datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()
    router = RouterProcess(DEMO_DIR, rules=demo_rules(today), ring_timeout_s=5)
    (DEMO_DIR / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    imported = router.cli(
        "patients", "import", str(DEMO_DIR / "patients.csv"), "--config", str(router.config)
    )
    print(imported.stdout.strip(), file=sys.stderr)
    password = secrets.token_urlsafe(9)
    for name, role, operator in DEMO_USERS:
        extra = ["--operator", operator] if operator else []
        args = ["users", "add", name, "--role", role, *extra, "--password-stdin"]
        added = router.cli(*args, "--config", str(router.config), stdin=password + "\n")
        if added.returncode != 0:
            print(added.stderr.strip(), file=sys.stderr)
    try:
        await router.start()
        print(f"router up (log: {router.log_path})", file=sys.stderr)
        code = await _run(router, _menu_length(sandbox))
        _print_console(router, password)
        keep_s = float(os.environ.get(KEEP_ENV) or 0)
        if keep_s > 0:
            print(f"the router stays up for {keep_s:.0f} s (Ctrl-C to stop sooner)")
            await asyncio.sleep(keep_s)  # for a person to look at the console
        return code
    finally:
        await router.stop()
        if not was_up:
            await asyncio.to_thread(sandbox.down)


def main() -> int:
    with sandbox_lock():
        return asyncio.run(demo())
