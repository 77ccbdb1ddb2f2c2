"""Column types that behave the same on SQLite and PostgreSQL.

Two differences between the backends would otherwise leak into the rest of the router:
SQLite keeps no time zone (timestamps come back naive), and PostgreSQL refuses some
strings SQLite accepts (NUL bytes in `text`, `\\u0000` and lone surrogates in `jsonb`).
Caller IDs and event data are hostile input, so every text and JSON value passes
through `clean_text` on the way in: the same value is stored on both backends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

# NUL is rejected by PostgreSQL text; lone surrogates (e.g. from surrogateescape decoding)
# cannot be encoded as UTF-8 by either driver.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(value: str) -> str:
    """`value` with characters no backend can store replaced by U+FFFD."""
    if _UNSTORABLE.search(value) is None:  # the common case: no copy
        return value
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_json(value: object) -> object:
    """A JSON-ready copy of `value` with every string (keys too) passed through `clean_text`.

    Tuples become lists here so that what is read back equals what `json` would produce.
    Anything `json` cannot encode is refused now, with the offending type named, rather
    than deep inside the driver.
    """
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):  # json writes NaN, which jsonb (and JSON) refuse
            raise ValueError(f"not JSON-serialisable: {value}")
        return value
    if isinstance(value, Mapping):
        return {clean_text(_json_key(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [clean_json(v) for v in value]
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")


class SafeText(TypeDecorator[str]):
    """`TEXT` that stores the same characters on SQLite and PostgreSQL (see `clean_text`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else clean_text(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both backends.

    PostgreSQL stores `timestamptz`. SQLite has no time type: SQLAlchemy stores ISO text
    without an offset, so values are converted to UTC first (which also keeps the text
    sortable) and read back as UTC. Naive datetimes are refused: guessing their zone is
    how journeys end up an offset apart.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: timestamps must be aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class PortableJson(TypeDecorator[Any]):
    """JSON on SQLite (text), `jsonb` on PostgreSQL (indexable for later reports)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else clean_json(value)
