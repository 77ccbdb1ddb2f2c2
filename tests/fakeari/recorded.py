"""Asterisk's own JSON, as recorded by ``sip_test_harness/ari_recorder.py``.

The fake never invents a shape: every REST body and every event starts as a deep copy of
what the real Asterisk sent, and only the values that differ per call (ids, names,
numbers, states, causes) are replaced.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "ari"

Json = dict[str, Any]


@cache
def _load(name: str) -> Json:
    data: Json = json.loads((DATA_DIR / name).read_text(encoding="utf-8"))
    return data


def asterisk_version() -> str:
    return str(_load("rest.json")["asterisk"])


def reply(name: str) -> Json:
    """A recorded REST exchange: ``method``, ``path``, ``status`` and ``body``."""
    return copy.deepcopy(_load("rest.json")["replies"][name])


def body(name: str) -> Json:
    """The JSON object Asterisk answered (a copy, free to change)."""
    data = reply(name)["body"]
    assert isinstance(data, dict), f"recorded reply {name} is not an object"
    return data


def event(name: str) -> Json:
    """A recorded event (``StasisStart:operator``, or the first of a type: ``Dial``)."""
    events = _load("events.json")["events"]
    return copy.deepcopy(events[name] if name in events else events[name.split(":")[0]])


def now() -> str:
    """Asterisk's timestamp format: ``2026-12-03T12:00:00.123+0000``."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
