"""Hot reload on the real sandbox: a broken edit, and one that leaves no operator, are
rejected without touching live calls; a good edit changes the routing of the next call."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from sip_test_harness.router_process import RouterProcess
from sip_test_harness.sipp import Behaviour, Phones, place_call
from tests.asterisk.rulesfile import write_rules

pytestmark = pytest.mark.asterisk

DID = "74952232222"


async def test_broken_edit_rejected_good_edit_routes_next_call(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = write_rules(tmp_path, ["op1001"])
    router = RouterProcess(tmp_path, rules=rules)
    await router.start()
    try:
        phones_spec = {
            "op1001": Behaviour("answer", hold=60),
            "op1002": Behaviour("answer", hold=60),
        }
        async with Phones(phones_spec) as phones:
            first_version = (await router.get("/api/rules"))["version"]
            call_a = asyncio.create_task(
                place_call("79990003001", DID, hangup_after=10, timeout=30)
            )
            await phones.wait_for_invites("op1001", 1, timeout=10)

            rules.write_text(rules.read_text() + "  - id: [broken\n", encoding="utf-8")
            rejected = await router.wait_get(
                "/api/rules", lambda r: r["last_rejected"] is not None, 10
            )
            assert rejected["version"] == first_version
            assert rejected["last_rejected"]["trigger"] == "file change"
            assert any(str(rules) in e for e in rejected["last_rejected"]["errors"])

            # Rules that would strand every caller are refused too (issue 13.4); SIGHUP
            # and the file watch race for it, and either must refuse it.
            write_rules(tmp_path, [])
            router.signal(signal.SIGHUP)
            stranded = await router.wait_get(
                "/api/rules",
                lambda r: any("no operators" in e for e in r["last_rejected"]["errors"]),
                10,
            )
            assert stranded["version"] == first_version
            (error,) = stranded["last_rejected"]["errors"]
            assert f"{rules}:3:1: operators: no operators: no call could ever be answered" in error

            write_rules(tmp_path, ["op1002"])
            await router.wait_get("/api/rules", lambda r: r["version"] != first_version, 10)
            assert not call_a.done(), "the call in progress must not be touched by reloads"

            result_b = await place_call("79990003002", DID, hangup_after=2, timeout=20)
            result_a = await call_a
        assert result_a.ok, result_a.describe()
        assert result_b.ok, result_b.describe()
        report = phones.report()
        assert report["op1001"].answered == 1 and report["op1002"].answered == 1
        call_b, call_a_row = await router.wait_calls(2)
        assert call_a_row["operator_id"] == "op1001" and call_a_row["outcome"] == "answered"
        assert call_b["operator_id"] == "op1002" and call_b["outcome"] == "answered"
        assert call_a_row["rules_version"] == first_version
        assert call_b["rules_version"] != first_version
    finally:
        await router.stop()
