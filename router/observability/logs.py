"""Log lines a person can follow: structlog over the standard library.

Every module logs with `logging.getLogger(__name__)`; one structlog `ProcessorFormatter`
on the root handler renders every line, ours and our libraries' alike, with a UTC time
to the millisecond and the context of the call or callback attempt that logged it (call
id, callback task id, channel). That context lives in contextvars: bound once at the
entry of a call's or an attempt's task (`bind`, or the older `call_id_var.set`), it is
on every line that task and the tasks it starts log, and no other task's.

Text (the default, for journalctl):

    2026-12-03T09:14:02.120Z INFO router.engine.call [1733217242.17 ch=1733217242.17] waiting
    2026-12-03T09:15:00.004Z INFO router.engine.callback_dispatch [cb=12] attempt 1: …

JSON (`logging.format: json` or CLINIC_ROUTER_LOG_FORMAT=json), one object per line:
`{"ts", "level", "logger", "msg", "call_id", "callback_task_id", "channel", "exception"}`
(the context keys only when bound).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# The call's id, as the engine has always bound it; `bind(call_id=…)` sets the same var.
call_id_var: ContextVar[str] = ContextVar("call_id", default="-")

ENV_LOG_FORMAT = "CLINIC_ROUTER_LOG_FORMAT"
LogFormat = Literal["text", "json"]
CONTEXT_KEYS = ("call_id", "callback_task_id", "channel")
_SHORT = {"callback_task_id": "cb", "channel": "ch"}  # the text form's bracket
_LEVEL_NAMES = {"warn": "WARNING", "exception": "ERROR", "fatal": "CRITICAL"}


def bind(
    *,
    call_id: str | None = None,
    callback_task_id: int | None = None,
    channel: str | None = None,
) -> None:
    """Put these on every line the current task (and the tasks it starts) logs from now."""
    if call_id is not None:
        call_id_var.set(call_id)
    more = {"callback_task_id": callback_task_id, "channel": channel}
    structlog.contextvars.bind_contextvars(**{k: v for k, v in more.items() if v is not None})


def log_format(configured: LogFormat, env: Mapping[str, str] | None = None) -> LogFormat:
    """The format in force: CLINIC_ROUTER_LOG_FORMAT (text|json) wins over the settings."""
    wanted = (os.environ if env is None else env).get(ENV_LOG_FORMAT, "").strip().lower()
    if wanted == "json":
        return "json"
    if wanted == "text":
        return "text"
    return configured


def configure(level: str = "info", fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Route every log line (stdlib and structlog loggers) through one formatter; `fmt` is
    the settings' choice, CLINIC_ROUTER_LOG_FORMAT overrides it."""
    shared: list[Processor] = [
        _merge_call_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
    ]
    renderer: Processor = _render_json if log_format(fmt) == "json" else _render_text
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print every API request; ours are few and audited elsewhere.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def _merge_call_context(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    call_id = call_id_var.get()
    if call_id != "-":
        event.setdefault("call_id", call_id)
    return structlog.contextvars.merge_contextvars(_logger, _method, event)


def _timestamp(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    created = record.created if isinstance(record, logging.LogRecord) else None
    moment = datetime.now(UTC) if created is None else datetime.fromtimestamp(created, UTC)
    event["ts"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


def _level(event: MutableMapping[str, Any]) -> str:
    name = str(event.pop("level", "info"))
    return _LEVEL_NAMES.get(name, name.upper())


def _render_text(_logger: WrappedLogger, _method: str, event: EventDict) -> str:
    ts, level = event.pop("ts", ""), _level(event)
    logger = event.pop("logger", "-")
    message = _printable(str(event.pop("event", "")))
    exception = event.pop("exception", None)
    context = [str(event.pop("call_id"))] if "call_id" in event else []
    context += [f"{_SHORT[k]}={event.pop(k)}" for k in CONTEXT_KEYS[1:] if k in event]
    bracket = _printable(" ".join(context)) or "-"
    extra = "".join(f" {k}={_printable(str(v))}" for k, v in event.items())
    line = f"{ts} {level} {logger} [{bracket}] {message}{extra}"
    return f"{line}\n{exception}" if exception else line


def _render_json(_logger: WrappedLogger, _method: str, event: EventDict) -> str:
    event["level"] = _level(event).lower()
    event["msg"] = event.pop("event", "")
    first = {k: event.pop(k) for k in ("ts", "level", "logger", "msg") if k in event}
    return json.dumps({**first, **event}, ensure_ascii=False, default=str)


def _printable(text: str) -> str:
    """A caller id or digit string carrying a newline must not forge a second log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
