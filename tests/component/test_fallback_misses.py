"""collect_fallback_misses against a fake Asterisk and a real SQLite ledger.

The fake answers as Asterisk 22.10 did in the sandbox: originate of the AstDB helper
channel, DB_KEYS() read on it (commas and backslashes escaped), 404 "Provided channel
was not found" once it is gone, and 204 for the DB_DELETE() write of a global variable.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from engine_support import engine_context
from sqlalchemy import text

from router.config.rules import load_rules
from router.engine import fallback_misses
from router.engine.context import CallContext
from router.engine.fallback_misses import FAMILY, LABEL, collect_fallback_misses
from router.storage import Store

REPO = Path(__file__).resolve().parents[2]
DELETE = re.compile(rf"DB_DELETE\({FAMILY}/(.*)\)")
KEY = "1795462576.3:1795462581:1795462577:74952232222:79990004002"


@dataclass
class FakeAstDb:
    keys: list[str] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    contexts: list[str] = field(default_factory=list)
    helper_context: bool = True  # False: no [clinic-router-astdb], the channel dies at once

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/ari/channels", self._originate)
        app.router.add_get("/ari/channels/{id}/variable", self._variable)
        app.router.add_delete("/ari/channels/{id}", self._hangup)
        app.router.add_post("/ari/asterisk/variable", self._set_global)
        return app

    async def _originate(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.helper_context:
            self.channels.add(body["channelId"])
        self.contexts.append(body["context"])
        name = f"{body['endpoint']}-00000002;1"
        return web.json_response({"id": body["channelId"], "name": name, "state": "Down"})

    async def _variable(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.channels:
            return web.json_response({"message": "Provided channel was not found"}, status=404)
        assert request.query["variable"] == f"DB_KEYS({FAMILY})"
        escaped = [k.replace("\\", "\\\\").replace(",", "\\,") for k in sorted(self.keys)]
        return web.json_response({"value": ",".join(escaped)})

    async def _hangup(self, request: web.Request) -> web.Response:
        self.channels.discard(request.match_info["id"])
        return web.Response(status=204)

    async def _set_global(self, request: web.Request) -> web.Response:
        body = await request.json()
        deleted = DELETE.fullmatch(body["variable"])
        if deleted and deleted.group(1) in self.keys:
            self.keys.remove(deleted.group(1))
        return web.Response(status=204)


@dataclass
class Setup:
    astdb: FakeAstDb
    ctx: CallContext
    store: Store


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    astdb = FakeAstDb()
    rules = load_rules(REPO / "config" / "rules.yaml")
    async with engine_context(tmp_path, astdb.app(), rules) as ctx:
        yield Setup(astdb, ctx, ctx.store)


async def test_records_become_calls_and_misses_then_their_keys_go(setup: Setup) -> None:
    withheld = "1795462598.39:1795462602:1795462599:+74952232222:"
    setup.astdb.keys = [KEY, withheld, "garbage,with\\comma"]
    assert await collect_fallback_misses(setup.ctx) == 2
    assert setup.astdb.keys == []  # the unreadable one is dropped too
    assert setup.astdb.channels == set()  # the helper channel was hung up
    assert setup.astdb.contexts == ["clinic-router-astdb"]
    [task] = await setup.store.callbacks.list()
    assert (task.number_e164, task.line, task.reasons) == ("+79990004002", "moscow", (LABEL,))
    assert task.first_missed_at == datetime.fromtimestamp(1795462581, UTC)
    [miss] = await setup.store.callbacks.misses_of(task.id)
    assert (miss.call_id, miss.waited_s) == ("1795462576.3", 4.0)
    call = await setup.store.calls.get("1795462576.3")
    assert call is not None and (call.outcome, call.did) == ("no_operator", "74952232222")
    summary = await setup.store.callbacks.summary(datetime.now(UTC))
    assert (summary.misses, summary.lost_anonymous) == (2, 1)

    setup.astdb.keys = [KEY]  # read again: deleted, but the ledger counts it once
    assert await collect_fallback_misses(setup.ctx) == 1
    [task] = await setup.store.callbacks.list()
    assert task.miss_count == 1
    assert await collect_fallback_misses(setup.ctx) == 0


async def test_keys_stay_while_the_database_cannot_take_the_misses(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fallback_misses, "FLUSH_TIMEOUT_S", 0.5)
    async with setup.store.db.begin() as conn:
        await conn.execute(text("ALTER TABLE misses RENAME TO misses_away"))
    setup.astdb.keys = [KEY]
    assert await collect_fallback_misses(setup.ctx) == 0
    assert setup.astdb.keys == [KEY]
    async with setup.store.db.begin() as conn:
        await conn.execute(text("ALTER TABLE misses_away RENAME TO misses"))
    monkeypatch.setattr(fallback_misses, "FLUSH_TIMEOUT_S", 5.0)
    assert await collect_fallback_misses(setup.ctx) == 1
    assert setup.astdb.keys == []
    [task] = await setup.store.callbacks.list()
    assert task.miss_count == 1


async def test_asterisk_without_the_helper_context_is_logged_not_raised(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.astdb.helper_context = False
    setup.astdb.keys = [KEY]
    assert await collect_fallback_misses(setup.ctx) == 0
    assert setup.astdb.keys == [KEY]
    assert "clinic-router-astdb" in caplog.text
