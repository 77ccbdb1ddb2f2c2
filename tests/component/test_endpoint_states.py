"""`GET /api/operators` shows Asterisk's state of each operator's phone: online, offline
(unreachable), missing (no such endpoint: a typo in the rules), and null while
Asterisk cannot be asked. The fake Asterisk serves Asterisk's recorded endpoint JSON."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from router.ari.client import AriClient
from router.domain.operators import Operator, OperatorStatus, Presence
from router.engine.board import OperatorBoard
from router.engine.endpoint_states import EndpointStates
from router.http.api import ApiDeps, build_app
from router.storage import Store
from tests.fakeari.server import ACCESS, FakeAsterisk

TOKEN = "t" * 24


async def test_operators_show_the_endpoint_state_asterisk_reports(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", migrate=True)
    board = OperatorBoard(lambda: 1000.0)
    board.load(
        [
            OperatorStatus(Operator("anna", "Anna", "PJSIP/op1001"), Presence.AVAILABLE),
            OperatorStatus(Operator("olga", "Olga", "PJSIP/op1002"), Presence.AVAILABLE),
            OperatorStatus(Operator("vera", "Vera", "PJSIP/1002"), Presence.AVAILABLE),
        ]
    )
    async with FakeAsterisk() as asterisk, aiohttp.ClientSession() as session:
        asterisk.phone("PJSIP/op1001", "answer")
        asterisk.phone("PJSIP/op1002", "offline")
        ari = AriClient(session, asterisk.url, ACCESS.user, ACCESS.password, "clinic-router")
        states = EndpointStates(ari)
        deps = ApiDeps(
            rules=None,
            store=store,
            board=board,
            ari_connected=lambda: True,
            rules_version=lambda: None,
            recorder_backlog=lambda: 0,
            db_ping=store.ping,
            endpoint_state=states.state,
        )
        runner = web.AppRunner(build_app(deps, TOKEN))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/operators"
            headers = {"Authorization": f"Bearer {TOKEN}"}

            async def shown() -> dict[str, object]:
                async with session.get(url, headers=headers) as resp:
                    assert resp.status == 200
                    body = await resp.json()
                return {op["id"]: op["endpoint_state"] for op in body["operators"]}

            assert await shown() == {"anna": None, "olga": None, "vera": None}  # not asked yet
            await states.refresh()
            assert await shown() == {"anna": "online", "olga": "offline", "vera": "missing"}
            asterisk.fail("GET", "/endpoints", 503)
            await states.refresh()
            assert await shown() == {"anna": None, "olga": None, "vera": None}  # not stale
        finally:
            await runner.cleanup()
    await store.close()
