"""Faults the fake Asterisk injects on demand: what a real one does rarely.

A REST fault matches a method and a path (a regular expression searched in the path after
``/ari``, with its query string) and, ``times`` times, delays the request and/or answers
an error instead of doing it. A delayed request that is not answered with an error is
carried out after the delay, whether or not the client still waits: after a client
timeout Asterisk may well have done it (``AriUnavailable``'s promise).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field


@dataclass
class RestFault:
    method: str
    path: str  # regular expression, searched in e.g. "/bridges/cr-1.2/addChannel?channel=1.2"
    status: int | None = None  # None: carry the request out (after `delay`)
    message: str = "Internal Server Error"
    delay: float = 0.0
    times: int = 1
    gate: asyncio.Event | None = None  # held until the test sets it
    body_has: str = ""  # only requests whose body contains this (e.g. "PJSIP/op")
    hits: int = 0

    def matches(self, method: str, path: str, body: str) -> bool:
        return (
            self.times > 0
            and method == self.method
            and re.search(self.path, path) is not None
            and self.body_has in body
        )


@dataclass
class Faults:
    rest: list[RestFault] = field(default_factory=list)
    duplicate: dict[str, int] = field(default_factory=dict)  # event type -> times to send twice
    # event type -> the event type it is sent after (once): reordered delivery
    hold_back: dict[str, str] = field(default_factory=dict)

    def add(self, fault: RestFault) -> RestFault:
        self.rest.append(fault)
        return fault

    def take(self, method: str, path: str, body: str) -> RestFault | None:
        for fault in self.rest:
            if fault.matches(method, path, body):
                fault.times -= 1
                fault.hits += 1
                return fault
        return None

    def duplicates(self, event_type: str) -> int:
        """How many copies of this event to send (1, or 2 while a duplicate is asked for)."""
        left = self.duplicate.get(event_type, 0)
        if left <= 0:
            return 1
        self.duplicate[event_type] = left - 1
        return 2
