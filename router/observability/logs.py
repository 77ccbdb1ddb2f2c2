"""Logging set-up: every line of a call carries its call id (bound once per call task)."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

call_id_var: ContextVar[str] = ContextVar("call_id", default="-")


class _CallContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = call_id_var.get()
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "call_id": getattr(record, "call_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CallContext())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(call_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print every API request; ours are few and audited elsewhere.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
