"""Issue 13.3, a real router on the sandbox: its SQLite folder deleted under it is reported
at once, the calls served meanwhile are held, and nothing is lost once the folder is back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sandbox import Sandbox
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"


async def test_a_deleted_database_folder_is_reported_and_its_calls_are_kept(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    router = RouterProcess(
        tmp_path,
        rules=write_rules(tmp_path, ["op1001"]),
        db_url=f"sqlite+aiosqlite:///{data / 'router.db'}",
        log_level="info",
    )
    await router.start()
    try:
        await router.wait_health(lambda h: h["status"] == "ok", 10)
        shutil.rmtree(data)
        body = await router.wait_health(lambda h: h["status"] != "ok", 5)
        assert body["database_storing"] is False and body["database_reachable"] is False
        assert any("folder" in p and "deleted" in p for p in body["problems"]), body
        async with Phones({"op1001": Behaviour("answer", hold=30)}) as phones:
            result = await place_call("79990002101", DID, hangup_after=2, timeout=30)
            await phones.wait_idle("op1001", timeout=10)
        assert result.ok, result.describe()  # served as ever
        body = await router.wait_health(lambda h: h["journal_backlog"] > 0, 5)
        assert body["status"] != "ok"  # its records are held, not stored
        data.mkdir()  # the operator puts the folder back: the router restores its copy
        await router.wait_health(lambda h: h["status"] == "ok" and h["journal_backlog"] == 0, 15)
        await router.stop()
        await router.start()
        [call] = await router.wait_calls(1)
        assert call["outcome"] == "answered" and call["operator_id"] == "op1001"
        log = router.log_path.read_text(encoding="utf-8").splitlines()
        warnings = [line for line in log if " WARNING " in line]
        # one from the file watch, one from the journal writer; none per retry
        assert len(warnings) == 2, warnings
        assert "folder" in warnings[0] and "writes failing" in warnings[1]
        assert sum("database writes work again" in line for line in log) == 1
    finally:
        await router.stop()
