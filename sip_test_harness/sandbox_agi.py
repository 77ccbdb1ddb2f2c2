"""AGI mode in the sandbox: the shipped AGI dialplan, a DID that enters it, and app_queue
queues rendered from a test's rules (docs/agi-mode.md).

`sandbox_config.render_configs` passes its files through `add_agi_mode`, which includes
these next to the ARI-mode dialplan; calls to `AGI_DID` enter [clinic-router-agi-entry],
every other DID stays in ARI mode. A test writes its rules' queues with `apply_queues`
(then `queue reload all`), never by rebuilding the sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from router.agi.queue_files import QUEUES_FILE, RULES_FILE, queue_files, write_queue_files
from router.config.rules import Rules

if TYPE_CHECKING:
    from sip_test_harness.sandbox import Sandbox

AGI_DID = "74957770000"
AGI_PORT = 4573
AGI_TIMEOUT_S = 4  # CR_AGI_TIMEOUT: how long a silent router holds a call
DIALPLAN = Path(__file__).resolve().parents[1] / "dialplan" / "clinic-router-agi.conf"
DIALPLAN_FILE = "clinic-router-agi.conf"
ENTRY_FILE = "sandbox-agi-entry.conf"

_ENTRY = f"""; sandbox only: the AGI-mode line's DID enters the AGI dialplan (an exact extension
; wins over the ARI dialplan's _X. in the same, merged, context)
[clinic-router-inbound]
exten => {AGI_DID},1,Goto(clinic-router-agi-entry,${{EXTEN}},1)
"""


def render_dialplan(
    port: int = AGI_PORT, timeout_s: int = AGI_TIMEOUT_S, host: str = "127.0.0.1"
) -> str:
    """The shipped dialplan with the sandbox router's address (the sandbox instance's
    own loopback address: instance.py) and timeout."""
    text = DIALPLAN.read_text(encoding="utf-8")
    text = text.replace("agi://127.0.0.1:4573", f"agi://{host}:{port}")
    return text.replace("CR_AGI_TIMEOUT = 4", f"CR_AGI_TIMEOUT = {timeout_s}")


def add_agi_mode(files: dict[str, str], host: str = "127.0.0.1") -> dict[str, str]:
    """`files` (the sandbox's config on `host`) with AGI mode included; queues start
    empty."""
    out = dict(files)
    out["extensions.conf"] += f"\n#include {DIALPLAN_FILE}\n#include {ENTRY_FILE}\n"
    out["queues.conf"] += f"\n#include {QUEUES_FILE}\n"
    out["queuerules.conf"] = f"#include {RULES_FILE}\n"
    out[DIALPLAN_FILE] = render_dialplan(host=host)
    out[ENTRY_FILE] = _ENTRY
    out.setdefault(QUEUES_FILE, "; no AGI-mode queues yet\n")
    out.setdefault(RULES_FILE, "; no AGI-mode queue rules yet\n")
    return out


def apply_queues(box: Sandbox, rules: Rules, ring_timeout_s: int = 15) -> None:
    """Write the rules' queues into the sandbox's config folder and reload app_queue (what
    the router does itself when `agi.queues_dir` is set), every operator unpaused: a
    router's pauses reach app_queue (QueuePause) and outlive it, so an earlier test's
    would otherwise be this one's."""
    write_queue_files(etc_folder(box), queue_files(rules, ring_timeout_s))
    box.cli("queue reload all")
    unpause_all(box, rules)


def unpause_all(box: Sandbox, rules: Rules) -> None:
    """Every operator of the rules unpaused in every app_queue queue (the CLI's `queue
    unpause member` without a queue), as a test leaves app_queue for the next one."""
    for op in rules.operators:
        box.cli(f"queue unpause member {op.endpoint}")


def etc_folder(box: Sandbox) -> Path:
    """The sandbox's Asterisk config folder, as seen from here."""
    etc = box.layout.etc_dir
    return box.root / etc.lstrip("/") if box.root is not None else Path(etc)


def queue_line(box: Sandbox, queue: str, member: str) -> str:
    """app_queue's own line for a member (`queue show`): says `paused` and the reason."""
    out = str(box.cli(f"queue show {queue}"))
    return next((line for line in out.splitlines() if member in line), out)


async def queue_line_until(
    box: Sandbox, queue: str, member: str, ok: Callable[[str], bool], timeout: float = 5.0
) -> str:
    """The member's `queue show` line once `ok` holds of it, or the last one read when
    `timeout` runs out (the caller asserts on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    line = queue_line(box, queue, member)
    while not ok(line) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        line = queue_line(box, queue, member)
    return line
