"""The app_queue side of AGI mode as files: written from the rules, reloaded over AMI.

Asterisk includes them once (`#include clinic-router-agi-queues.conf` in queues.conf,
`#include clinic-router-agi-queuerules.conf` in queuerules.conf); the router rewrites them
at start and on every rules reload and asks app_queue to reload (AMI QueueReload), so the
penalties and relaxation steps app_queue applies are always the rules in force.
"""

from __future__ import annotations

from pathlib import Path

from router.agi.queues import app_queues, render_queue_rules, render_queues
from router.config.rules import Rules

QUEUES_FILE = "clinic-router-agi-queues.conf"
RULES_FILE = "clinic-router-agi-queuerules.conf"


def queue_files(
    rules: Rules, ring_timeout_s: int, unrouted_max_wait_s: int = 0, wrap_up_s: float = 0.0
) -> dict[str, str]:
    """The two files' texts: `ring_timeout_s`, `unrouted_max_wait_s` and `wrap_up_s` are
    the router's `routing.*`."""
    queues = app_queues(
        rules.queues, rules.routes, rules.menus, rules.operators, unrouted_max_wait_s, wrap_up_s
    )
    return {
        QUEUES_FILE: render_queues(queues, ring_timeout_s),
        RULES_FILE: render_queue_rules(queues),
    }


def write_queue_files(folder: Path, files: dict[str, str]) -> bool:
    """Write what changed, each file replaced at once; True when anything did."""
    changed = False
    for name, text in files.items():
        path = folder / name
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except FileNotFoundError:
            pass
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        changed = True
    return changed
