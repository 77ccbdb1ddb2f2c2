"""Field types shared by the settings and the rules, each with an admin-readable error.

Validators raise ValueError with the whole sentence the admin will read after
`file:line:column: key.path: `; they say what would be valid and echo the bad value
(never for secrets: those fields do not use these validators).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic import model_validator as _model_validator


class ConfigModel(BaseModel):
    """Base of every config model: frozen, unknown keys rejected.

    Canonical numbers become text where text is expected (`id: 1001` -> "1001"); the YAML
    reader never resolves a number that would lose characters (`+7…`, `0123`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)


class Section(ConfigModel):
    """A top-level section: an empty section (`logging:` with everything commented out)
    means all defaults rather than "expected a mapping, got nothing"."""

    @_model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_OPERATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENDPOINT = re.compile(r"[A-Za-z][A-Za-z0-9]*/[^\s,()&|]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid id: use lowercase latin letters, digits, '-' and '_',"
            " starting with a letter, at most 40 characters (like 'moscow-front')"
        )
    return value


def _operator_id(value: str) -> str:
    if not _OPERATOR_ID.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid operator id: use latin letters, digits, '.', '-' and"
            " '_', at most 64 characters (like 'op1001')"
        )
    return value


def _endpoint(value: str) -> str:
    if not _ENDPOINT.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an Asterisk endpoint: write TECHNOLOGY/resource, like 'PJSIP/op1001'"
        )
    return value


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a language code: use a lowercase ISO 639 code like 'ru' or 'en'"
        )
    return value


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def parse_clock(value: Any) -> time:
    """A time of day written "H:MM" or "HH:MM" (24-hour clock).

    The YAML reader keeps an unquoted `9:00` as the text "9:00" (YAML 1.1 would read the
    sexagesimal integer 540), so quoted and unquoted times are read the same way.
    """
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _CLOCK.fullmatch(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    shown = f"'{value}'" if isinstance(value, str) else repr(value)
    raise ValueError(f'expected a time of day as "HH:MM" (00:00 to 23:59), got {shown}')


Slug = Annotated[str, AfterValidator(_slug)]
OperatorId = Annotated[str, AfterValidator(_operator_id)]
Endpoint = Annotated[str, AfterValidator(_endpoint)]
LanguageCode = Annotated[str, AfterValidator(_language)]
Text = Annotated[str, Field(max_length=200), AfterValidator(_text)]
SkillLevel = Annotated[StrictInt, Field(ge=1, le=5)]
ClockTime = Annotated[time, BeforeValidator(parse_clock)]
