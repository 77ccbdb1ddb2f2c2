"""Nothing stored must never look healthy: /health, /metrics and the log of a real store
and journal writer when the disk is full, the SQLite folder is deleted, or PostgreSQL goes
away (a real aiohttp server on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, make_url
from storage_support import PG_ENV, empty_database

from router.engine.board import OperatorBoard
from router.engine.recorder import Recorder
from router.http.api import ApiDeps, build_app
from router.http.metrics import RouterMetrics, StorageFigures
from router.storage import Store, is_transient_error
from router.storage.journal import CallEvent, Journal, NewCall
from router.storage.migrate import migrate
from router.storage.models import CallRow
from tests.asterisk.tcp_cut import CuttableRelay

TOKEN = "s" * 24
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@dataclass
class Running:
    base: str
    store: Store
    recorder: Recorder

    async def get(self, path: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base + path, headers=headers) as resp,
        ):
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def health(self) -> dict[str, Any]:
        status, body = await self.get("/health")
        assert status == 200  # ARI is up: the router still takes calls
        return dict(body)

    async def metrics(self) -> dict[str, float]:
        _, text = await self.get("/metrics")
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
        return samples

    async def wait_health(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Poll /health until `check` holds (5 s deadline)."""
        deadline = time.monotonic() + 5
        body = await self.health()
        while not check(body):
            assert time.monotonic() < deadline, f"/health never matched: {body}"
            await asyncio.sleep(0.05)
            body = await self.health()
        return body


@contextlib.asynccontextmanager
async def running(url: str, *, watch_s: float = 0.05) -> AsyncIterator[Running]:
    """The store, its journal writer, its file watch and the API, as the router runs them."""
    store = await Store.open(url)
    recorder = Recorder(
        Journal(store.db).apply,
        is_transient=is_transient_error,
        retry_initial=0.02,
        retry_max=0.05,
        linger_s=0,
    )
    deps = ApiDeps(
        rules=None,
        store=store,
        board=OperatorBoard(lambda: 1000.0),
        ari_connected=lambda: True,
        rules_version=lambda: "v1",
        recorder_backlog=lambda: recorder.backlog,
        db_ping=store.ping,
        writes=recorder.health,
        db_file_problem=lambda: store.db.file_problem,
    )
    metrics = RouterMetrics(storage=StorageFigures(recorder.health, lambda: store.db.file_problem))
    runner = web.AppRunner(build_app(deps, TOKEN, metrics))
    await runner.setup()
    try:
        async with asyncio.TaskGroup() as tasks:
            writer = tasks.create_task(recorder.run())
            watch = tasks.create_task(store.db.watch(watch_s))
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            yield Running(f"http://127.0.0.1:{runner.addresses[0][1]}", store, recorder)
            writer.cancel()
            watch.cancel()
    finally:
        await runner.cleanup()
        await store.close()


def record_call(recorder: Recorder, call_id: str) -> None:
    row = CallRow(id=call_id, app="clinic-router", caller_raw="1" * 60, did="1", started_at=T0)
    recorder.record(NewCall(row))
    recorder.record(CallEvent(call_id, "arrived", {"did": "1"}, T0))


async def stored(store: Store) -> int:
    return len(await store.calls.recent(limit=500))


@contextlib.asynccontextmanager
async def disk_full(store: Store) -> AsyncIterator[None]:
    """SQLite's own "database or disk is full": while on, no connection may grow the file
    (max_page_count, set at every checkout)."""
    full = True

    def limit(dbapi: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0] if full else 1_073_741_823  # SQLite's own maximum
        cursor.execute(f"PRAGMA max_page_count = {int(pages)}")
        cursor.close()

    event.listen(store.db.engine.sync_engine, "checkout", limit)
    try:
        yield
    finally:
        full = False


async def test_a_full_disk_is_unhealthy_logged_once_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    await migrate(url)
    caplog.set_level(logging.INFO, logger="router.engine.recorder")
    async with running(url) as r:
        assert (await r.health())["status"] == "ok"
        async with disk_full(r.store):
            n = 0
            async with asyncio.timeout(10):
                while r.recorder.health().consecutive_failures < 3:
                    record_call(r.recorder, f"c{n}")
                    n += 1
                    await asyncio.sleep(0.01)
            body = await r.wait_health(lambda b: b["status"] != "ok")
            assert body["database_reachable"] is True  # it answers; it cannot take writes
            assert body["database_storing"] is False
            assert any("database or disk is full" in p for p in body["problems"])
            assert body["journal_backlog"] > 0 and body["journal"]["consecutive_failures"] >= 3
            samples = await r.metrics()
            assert samples["clinic_router_database_storing"] == 0
            assert samples["clinic_router_database_file_ok"] == 1
            assert samples["clinic_router_journal_backlog"] > 0
            assert samples["clinic_router_database_write_failures_total"] >= 3
            assert samples["clinic_router_database_consecutive_write_failures"] >= 3
        assert await r.recorder.flush(5.0)
        body = await r.wait_health(lambda b: b["status"] == "ok")
        assert body["database_storing"] and body["journal"]["last_write_at"] is not None
        assert await stored(r.store) == n
        assert (await r.metrics())["clinic_router_database_storing"] == 1
    loud = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.INFO]
    assert len(loud) == 2 and "failing" in loud[0] and "work again" in loud[1], loud


async def test_a_deleted_folder_is_unhealthy_until_restored_with_the_held_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{folder / 'router.db'}"
    await migrate(url)
    caplog.set_level(logging.INFO, logger="router")
    async with running(url) as r:
        record_call(r.recorder, "before")
        assert await r.recorder.flush(2.0)
        shutil.rmtree(folder)
        body = await r.wait_health(lambda b: b["status"] != "ok")
        assert body["database_reachable"] is False and body["database_storing"] is False
        assert any("folder" in p and "deleted" in p for p in body["problems"])
        samples = await r.metrics()
        assert samples["clinic_router_database_file_ok"] == 0
        assert samples["clinic_router_database_storing"] == 0
        record_call(r.recorder, "while-gone")
        assert not await r.recorder.flush(0.3)  # held, not written into the deleted file
        assert r.recorder.backlog == 2
        folder.mkdir()
        body = await r.wait_health(lambda b: b["status"] == "ok")
        assert await r.recorder.flush(5.0)
        assert await stored(r.store) == 2
    warnings = [m.getMessage() for m in caplog.records if m.levelno == logging.WARNING]
    # one from the file watch, one from the journal writer holding the records
    assert len(warnings) == 2 and "folder" in warnings[0] and "failing" in warnings[1], warnings
    assert any("restored" in m.getMessage() for m in caplog.records)
    # a router started afresh finds both calls in the restored file
    store = await Store.open(url)
    try:
        assert await stored(store) == 2
    finally:
        await store.close()


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is not set")
async def test_postgresql_gone_is_unhealthy_and_the_writes_are_held(tmp_path: Path) -> None:
    async with empty_database("postgresql", tmp_path) as real_url:
        await migrate(real_url)
        parsed = make_url(real_url)
        relay = CuttableRelay(parsed.host or "127.0.0.1", parsed.port or 5432)
        await relay.start()
        try:
            url = parsed.set(host="127.0.0.1", port=relay.port)
            async with running(url.render_as_string(hide_password=False)) as r:
                record_call(r.recorder, "before")
                assert await r.recorder.flush(2.0)
                assert (await r.health())["status"] == "ok"
                await relay.cut()  # connections dropped, new ones refused
                record_call(r.recorder, "while-gone")
                body = await r.wait_health(lambda b: b["status"] != "ok")
                assert body["database_reachable"] is False
                body = await r.wait_health(lambda b: b["database_storing"] is False)
                assert r.recorder.backlog == 2
                assert (await r.metrics())["clinic_router_database_storing"] == 0
                await relay.start()
                assert await r.recorder.flush(10.0)
                await r.wait_health(lambda b: b["status"] == "ok")
                assert await stored(r.store) == 2
        finally:
            await relay.close()
