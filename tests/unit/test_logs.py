"""The router's log lines: UTC milliseconds, the call's context on every line, JSON on request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from router.observability import logs

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \[.*\] "
)


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure() replaces the root handler: give pytest's own back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def configured(fmt: logs.LogFormat, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.delenv(logs.ENV_LOG_FORMAT, raising=False)
    out = io.StringIO()
    logs.configure("debug", fmt, stream=out)
    return out


async def a_call(call_id: str, channel: str) -> None:
    logs.bind(call_id=call_id, channel=channel)
    await asyncio.sleep(0)  # the other calls run in between: their context must not leak
    logging.getLogger("router.engine.call").info("ringing %s", "op1001")


async def an_attempt(task_id: int) -> None:
    logs.bind(callback_task_id=task_id)
    await asyncio.sleep(0)
    logging.getLogger("router.engine.callback_dispatch").info("attempt 1 starts")


@pytest.mark.usefixtures("root_logging")
def test_each_task_logs_its_own_context_in_text(monkeypatch: pytest.MonkeyPatch) -> None:
    out = configured("text", monkeypatch)

    async def main() -> None:
        await asyncio.gather(a_call("c1", "1700.1"), a_call("c2", "1700.2"), an_attempt(12))
        logging.getLogger("router.app").warning("no call here")

    asyncio.run(main())
    lines = [line for line in out.getvalue().splitlines() if "asyncio" not in line]
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert sorted(line.split(" ", 1)[1] for line in lines) == [
        "INFO router.engine.call [c1 ch=1700.1] ringing op1001",
        "INFO router.engine.call [c2 ch=1700.2] ringing op1001",
        "INFO router.engine.callback_dispatch [cb=12] attempt 1 starts",
        "WARNING router.app [-] no call here",
    ]


@pytest.mark.usefixtures("root_logging")
def test_the_older_call_id_var_still_binds_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    out = configured("text", monkeypatch)

    async def call() -> None:
        logs.call_id_var.set("c9")
        logging.getLogger("router.engine.call").info("answered")

    asyncio.run(call())
    assert "INFO router.engine.call [c9] answered" in out.getvalue()


@pytest.mark.usefixtures("root_logging")
def test_json_lines_carry_context_and_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    out = configured("json", monkeypatch)

    async def attempt() -> None:
        logs.bind(call_id="c1", callback_task_id=7, channel="1700.9")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("router.engine.callback_dispatch").exception("attempt failed")

    asyncio.run(attempt())
    [entry] = [json.loads(line) for line in out.getvalue().splitlines() if '"asyncio"' not in line]
    assert list(entry)[:4] == ["ts", "level", "logger", "msg"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])
    assert entry["level"] == "error" and entry["msg"] == "attempt failed"
    assert (entry["call_id"], entry["callback_task_id"], entry["channel"]) == ("c1", 7, "1700.9")
    assert "RuntimeError: boom" in entry["exception"]


@pytest.mark.usefixtures("root_logging")
def test_environment_asks_for_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.ENV_LOG_FORMAT, "JSON")
    out = io.StringIO()
    logs.configure("info", "text", stream=out)
    logging.getLogger("router.app").info("started")
    assert json.loads(out.getvalue())["msg"] == "started"


def test_log_format_choice() -> None:
    assert logs.log_format("text", {}) == "text"
    assert logs.log_format("json", {}) == "json"
    assert logs.log_format("json", {logs.ENV_LOG_FORMAT: "text"}) == "text"
    assert logs.log_format("text", {logs.ENV_LOG_FORMAT: "yaml"}) == "text"  # unknown: settings


@pytest.mark.usefixtures("root_logging")
def test_a_caller_id_cannot_forge_a_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = configured("text", monkeypatch)
    hostile = "79990001122\n2026-01-01T00:00:00.000Z INFO router.app [-] admin signed in"
    logging.getLogger("router.engine.call").info("caller %s", hostile)
    [line] = out.getvalue().splitlines()
    assert line.endswith(
        "caller 79990001122\\n2026-01-01T00:00:00.000Z INFO router.app [-] admin signed in"
    )


@pytest.mark.usefixtures("root_logging")
def test_structlog_loggers_share_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    out = configured("text", monkeypatch)
    structlog.get_logger("router.x").info("offered", operator="op1001")
    assert re.search(r"INFO router\.x \[-\] offered operator=op1001$", out.getvalue().strip())


@pytest.mark.usefixtures("root_logging")
def test_level_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.ENV_LOG_FORMAT, raising=False)
    out = io.StringIO()
    logs.configure("warning", "text", stream=out)
    logging.getLogger("router.app").info("quiet")
    logging.getLogger("router.app").warning("loud")
    assert "quiet" not in out.getvalue() and "loud" in out.getvalue()
