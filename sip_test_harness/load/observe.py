"""What Asterisk and the router say after a run: leftover channels and bridges, journeys."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from sip_test_harness.errors import SippError
from sip_test_harness.load.stats import CallerCall, number_key
from sip_test_harness.probe import AriAccess

API_LIMIT = 500  # GET /api/calls?limit= accepts at most this (one page)


async def ari_counts(ari: AriAccess) -> tuple[int, int]:
    """(channels, bridges) Asterisk has now."""
    headers = {"Authorization": ari.authorization()}
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        counts = []
        for kind in ("channels", "bridges"):
            async with session.get(f"{ari.url}/{kind}") as response:
                response.raise_for_status()
                counts.append(len(await response.json()))
    return counts[0], counts[1]


async def wait_drained(ari: AriAccess, timeout: float) -> tuple[int, int]:
    """Poll until Asterisk has no channel and no bridge, or ``timeout``; the last counts."""
    deadline = time.monotonic() + timeout
    counts: tuple[int, int] | None = None
    while True:
        try:
            counts = await ari_counts(ari)
        except (aiohttp.ClientError, TimeoutError):
            counts = None  # Asterisk's HTTP server busy or closing idle sessions: ask again
        if counts == (0, 0):
            return counts
        if time.monotonic() > deadline:
            if counts is None:
                raise SippError(f"ARI did not answer GET /channels for {timeout} s")
            return counts
        await asyncio.sleep(0.25)


async def wait_online(ari: AriAccess, endpoints: Iterable[str], timeout: float) -> None:
    """Poll ``GET /endpoints/PJSIP`` until every endpoint named is ``online``."""
    wanted = set(endpoints)
    headers = {"Authorization": ari.authorization()}
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        while True:
            async with session.get(f"{ari.url}/endpoints/PJSIP") as response:
                response.raise_for_status()
                states = {e["resource"]: e.get("state") for e in await response.json()}
            offline = sorted(name for name in wanted if states.get(name) != "online")
            if not offline:
                return
            if time.monotonic() > deadline:
                raise SippError(
                    f"{len(offline)} load operators not online after {timeout} s: "
                    f"{', '.join(offline[:5])}..."
                )
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Journey:
    """The part of a router journey the load report needs."""

    caller_raw: str
    outcome: str | None
    caller: str | None = None  # E.164, when the router could read the number
    # (kind, data) of each journey step
    steps: tuple[tuple[str, Any], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class RouterApi:
    """The router's HTTP API (``/api/calls`` with a bearer token)."""

    url: str
    token: str

    async def journeys(self, since: datetime | None = None) -> list[Journey]:
        """The journeys of every call started at or after ``since``, page by page."""
        params = {"limit": str(API_LIMIT)}
        if since is not None:
            params["since"] = since.isoformat()
        journeys: list[Journey] = []
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            while True:
                async with session.get(f"{self.url}/api/calls", params=params) as response:
                    response.raise_for_status()
                    body: dict[str, Any] = await response.json()
                journeys += [
                    Journey(c["caller_raw"], c["outcome"], c.get("caller"), _steps(c))
                    for c in body["calls"]
                ]
                after = body.get("next")  # absent from routers without paging
                if not after:
                    return journeys
                params.update(before=after["before"], before_id=after["before_id"])

    async def open_task_numbers(self) -> set[str]:
        """The numbers (and callback numbers) of every open callback task."""
        numbers: set[str] = set()
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            offset = 0
            while True:
                params = {"state": "open", "limit": str(API_LIMIT), "offset": str(offset)}
                async with session.get(f"{self.url}/api/callbacks", params=params) as response:
                    response.raise_for_status()
                    page: list[dict[str, Any]] = (await response.json())["callbacks"]
                for task in page:
                    numbers.update(n for n in (task["number"], task["callback_number"]) if n)
                if len(page) < API_LIMIT:
                    return numbers
                offset += API_LIMIT

    async def wait_outcomes(
        self, expected: int, timeout: float, since: datetime | None = None
    ) -> list[Journey]:
        """Journeys once every one has an outcome (or at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            journeys = await self.journeys(since)
            settled = all(j.outcome for j in journeys)
            if (settled and len(journeys) >= expected) or time.monotonic() > deadline:
                return journeys
            await asyncio.sleep(0.5)


def _steps(call: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((step["kind"], step.get("data")) for step in call.get("journey") or ())


def steps_of(journeys: Iterable[Journey], kind: str) -> int:
    """Journeys with at least one step of ``kind`` (AGI mode: ``agi_decision``)."""
    return sum(1 for j in journeys if any(k == kind for k, _ in j.steps))


def decision_targets(journeys: Iterable[Journey]) -> dict[str, int]:
    """AGI decisions by target (``queue``, ``operator``, ...)."""
    return dict(
        Counter(
            str(d.get("target"))
            for j in journeys
            for k, d in j.steps
            if k == "agi_decision" and isinstance(d, dict)
        )
    )


def menu_keys(journeys: Iterable[Journey]) -> int:
    """Journeys whose menu took a key the caller pressed (not a default or a timeout)."""
    return sum(
        1
        for j in journeys
        if any(k == "menu" and isinstance(d, dict) and d.get("pressed") for k, d in j.steps)
    )


def lost_calls(calls: Iterable[CallerCall], journeys: Iterable[Journey], abandon: set[str]) -> int:
    """Calls the PBX accepted that have no journey with an outcome.

    Callers are matched by number (each call has its own), anonymous ones by count.
    """
    ended = Counter(number_key(j.caller_raw) for j in journeys if j.outcome)
    lost = 0
    for call in calls:
        if call.failed(call.stream in abandon):
            continue
        key = number_key(call.number)
        if ended[key] > 0:
            ended[key] -= 1
        else:
            lost += 1
    return lost


def misses_without_task(journeys: Iterable[Journey], task_numbers: set[str]) -> int:
    """Calls that ended without an operator, from a number, with no open task for it.

    Only meaningful on rules whose callback policy makes a task of every miss (the rules
    the harness writes for its sandbox router).
    """
    return sum(
        1
        for j in journeys
        if j.outcome not in (None, "answered") and j.caller and j.caller not in task_numbers
    )


def outcomes(journeys: Iterable[Journey]) -> dict[str, int]:
    """Journeys by outcome (``none`` = no outcome yet)."""
    return dict(Counter(j.outcome or "none" for j in journeys))
