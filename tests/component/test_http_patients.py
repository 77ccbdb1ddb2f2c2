"""`GET /api/patients?phone=` on a real aiohttp server (127.0.0.1:0) over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from api_support import TOKEN, serving

from router.storage import Appointment, LastContact, PatientRecord, Store

MOTHER = PatientRecord(
    id="p1",
    name="Анна",
    phones=("+79161234567", "+74951112233"),
    assigned_operator_id="op1",
    team="adults",
    tags=("dms",),
    language="ru",
    preferred_branch="centre",
    birth_year=1984,
    last_contact=LastContact(datetime(2026, 11, 20, 6, 15, tzinfo=UTC), "op3", "dms", "booked"),
    appointments=(Appointment(datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "Dr Ivanov", "moscow"),),
)
CHILD = PatientRecord(id="p2", name="Миша", phones=("+79161234567",), birth_year=2018)


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    await store.patients.upsert([MOTHER, CHILD])
    try:
        async with serving(store) as base_url:
            yield base_url
    finally:
        await store.close()


async def get(url: str, params: dict[str, str], token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params=params, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def test_every_patient_on_the_number_with_the_full_profile(base: str) -> None:
    status, body = await get(f"{base}/api/patients", {"phone": "8 (916) 123-45-67"})
    assert status == 200
    assert body["phone"] == "+79161234567"
    assert [p["id"] for p in body["patients"]] == ["p1", "p2"]
    assert body["patients"][0] == {
        "id": "p1",
        "name": "Анна",
        "phones": ["+79161234567", "+74951112233"],
        "birth_year": 1984,
        "assigned_operator": "op1",
        "team": "adults",
        "tags": ["dms"],
        "language": "ru",
        "preferred_branch": "centre",
        "do_not_call": False,
        "last_contact": {
            "at": "2026-11-20T06:15:00+00:00",
            "operator": "op3",
            "category": "dms",
            "outcome": "booked",
        },
        "appointments": [
            {"starts_at": "2026-12-01T07:30:00+00:00", "doctor": "Dr Ivanov", "branch": "moscow"}
        ],
    }
    assert body["patients"][1]["last_contact"] is None
    assert body["patients"][1]["appointments"] == []


async def test_a_valid_unknown_number_is_an_empty_list(base: str) -> None:
    assert await get(f"{base}/api/patients", {"phone": "+79169999999"}) == (
        200,
        {"phone": "+79169999999", "patients": []},
    )


@pytest.mark.parametrize(
    "params",
    [
        {"phone": "anonymous"},
        {"phone": "'; DROP TABLE patients; --"},
        {"phone": "12"},
        {"phone": "9" * 500},
        {"phone": ""},
        {},
    ],
)
async def test_a_bad_number_is_400_bad_phone(base: str, params: dict[str, str]) -> None:
    status, body = await get(f"{base}/api/patients", params)
    assert (status, body["error_id"]) == (400, "bad_phone")
    assert set(body) == {"status", "error_id", "message", "details"}


async def test_patients_need_the_token(base: str) -> None:
    status, body = await get(f"{base}/api/patients", {"phone": "+79161234567"}, token="wrong")
    assert (status, body["error_id"]) == (401, "unauthorized")
    assert "Анна" not in str(body)
