"""Every line a call or a callback attempt logs names it: the call's id and channel, the
attempt's task and channels (the engine binds them at each task's entry)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from router.config.callback_settings import CallbackSettings
from router.observability import logs
from tests.engine.harness import DID, RouterUnderTest
from tests.fakeari import FakeAsterisk

pytestmark = pytest.mark.timeout(30)

PATIENT = "79990001122"


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The router's JSON log lines; pytest's own handlers come back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.delenv(logs.ENV_LOG_FORMAT, raising=False)
    out = io.StringIO()
    logs.configure("info", "json", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def entries(out: io.StringIO, logger_prefix: str) -> list[dict[str, object]]:
    found = [json.loads(line) for line in out.getvalue().splitlines()]
    return [e for e in found if str(e["logger"]).startswith(logger_prefix)]


async def test_call_and_callback_attempt_lines_carry_their_ids(
    fake: FakeAsterisk, tmp_path: Path, log_lines: io.StringIO
) -> None:
    fake.phone("PJSIP/op1001", "busy")
    fake.phone("*", "answer")  # the patients' trunk
    settings = CallbackSettings(poll_s=0.2, hold_s=5)
    router = RouterUnderTest(fake, tmp_path, operators=("op1001",), callbacks=settings)
    await router.start()
    try:
        caller = fake.caller_arrives(DID, PATIENT)
        await fake.until(lambda: not fake.channel(caller).alive)  # nobody could answer
        await router.flushed()
        fake.phone("PJSIP/op1001", "answer")
        await fake.until(lambda: fake.legs_to(f"PJSIP/{PATIENT}@patients"))
        [patient_leg] = fake.legs_to(f"PJSIP/{PATIENT}@patients")
        await fake.until(lambda: fake.bridged(patient_leg))
        fake.caller_hangs_up(patient_leg)
        await fake.until(lambda: router.rows("select state from callback_tasks") == [("closed",)])
    finally:
        await router.stop()
    [(task_id,)] = router.rows("select id from callback_tasks")

    call_lines = entries(log_lines, "router.engine.inbound")
    assert any("call ended" in str(e["msg"]) for e in call_lines)
    assert all((e.get("call_id"), e.get("channel")) == (caller, caller) for e in call_lines)

    attempt_lines = entries(log_lines, "router.engine.callbacks.attempt")
    assert all(
        (e.get("callback_task_id"), e.get("channel")) == (task_id, f"cb-{task_id}-1")
        for e in attempt_lines
    ), attempt_lines
    said = [str(e["msg"]) for e in attempt_lines if e["level"] == "info"]
    assert any(
        s.startswith(f"callback {task_id} attempt 1 started: operator op1001, at ") for s in said
    )
    assert any("attempt 1: ringing operator op1001 (PJSIP/op1001)" in s for s in said)
    assert any("attempt 1: operator op1001 answered after" in s for s in said)
