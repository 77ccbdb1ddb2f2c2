"""pydantic v2 validation errors -> `ConfigIssue`s with positions and admin wording.

pydantic reports `loc=("operators", 2, "skills", "dsm")` and "Input should be a valid
integer"; admins need `rules.yaml:14:7: operators[2].skills.dsm: expected a whole number,
got 'abc'`, and "unknown key 'ring_timout' (did you mean 'ring_timeout'?)".
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from router.config.errors import ConfigIssue, KeyPath, suggest
from router.config.yamlsafe import Where, YamlDocument

M = TypeVar("M", bound=BaseModel)

# Never echo what was written under these keys, whatever their type.
SECRET_KEYS = frozenset({"password", "token", "secret"})

_KEY_MARK = "[key]"
_QUOTED = re.compile(r"'([^']*)'")


def validate_document(
    model: type[M], doc: YamlDocument, context: Mapping[str, Any] | None = None
) -> tuple[M | None, list[ConfigIssue]]:
    """Validate `doc.data` as `model`: the instance, or None and every issue found."""
    try:
        return model.model_validate(doc.data, context=dict(context or {})), []
    except ValidationError as e:
        return None, issues_from_validation(e, model, doc)


def issues_from_validation(
    error: ValidationError, model: type[BaseModel], doc: YamlDocument
) -> list[ConfigIssue]:
    details = error.errors(include_url=False)
    failed_items = [tuple(d["loc"]) for d in details if d["type"] != "too_short"]
    issues = []
    for detail in details:
        loc: KeyPath = tuple(detail["loc"])
        if detail["type"] == "too_short" and any(
            f[: len(loc)] == loc and len(f) > len(loc) for f in failed_items
        ):
            continue  # pydantic counts the items that failed as missing: noise
        on_key = bool(loc) and loc[-1] == _KEY_MARK
        path = loc[:-1] if on_key else loc
        if detail["type"] == "missing":
            parent = path[:-1]
            issues.append(doc.issue(parent, f"required key '{path[-1]}' is missing"))
            continue
        at: Where = "key" if on_key or detail["type"] == "extra_forbidden" else "auto"
        message = _message(detail, model, path, on_key)
        issues.append(doc.issue(path, message, at=at))
    return issues


def _message(detail: Mapping[str, Any], model: type[BaseModel], path: KeyPath, key: bool) -> str:
    kind: str = detail["type"]
    ctx: Mapping[str, Any] = detail.get("ctx") or {}
    secret = _is_secret(model, path)
    got = describe(detail.get("input"), secret=secret)
    if kind == "extra_forbidden":
        return _unknown_key(model, path)
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", detail["msg"])).removeprefix("Assertion failed, ")
    if kind in ("literal_error", "enum"):
        choices = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = suggest(str(detail.get("input")), choices) if choices and not secret else ""
        if hint.startswith(" (did you mean"):
            return f"expected one of {', '.join(choices)}, got {got}{hint}"
        return f"expected one of {', '.join(choices)}, got {got}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be an empty list"
    template = _TEMPLATES.get(kind)
    if template is not None:
        return template.format(got=got, **{k: _number(v) for k, v in ctx.items()})
    return f"{detail['msg']} (got {got})" if not key else str(detail["msg"])


_MAPPING = "expected a mapping (indented `key: value` lines), got {got}"
_LIST = "expected a list (lines starting with '- ', or [a, b]), got {got}"
_TEMPLATES: dict[str, str] = {
    "string_type": "expected text, got {got}",
    "int_type": "expected a whole number, got {got}",
    "int_parsing": "expected a whole number, got {got}",
    "int_from_float": "expected a whole number, got {got}",
    "float_type": "expected a number, got {got}",
    "float_parsing": "expected a number, got {got}",
    "bool_type": "expected true or false, got {got}",
    "bool_parsing": "expected true or false, got {got}",
    "dict_type": _MAPPING,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "list_type": _LIST,
    "tuple_type": _LIST,
    "set_type": _LIST,
    "greater_than_equal": "must be at least {ge}, got {got}",
    "greater_than": "must be more than {gt}, got {got}",
    "less_than_equal": "must be at most {le}, got {got}",
    "less_than": "must be less than {lt}, got {got}",
    "string_too_short": "must not be empty",
    "string_too_long": "too long: at most {max_length} characters",
    "too_short": "needs at least {min_length} item(s)",
    "too_long": "too many items: at most {max_length}",
    "date_type": "expected a date like 2026-12-31, got {got}",
    "date_parsing": "expected a date like 2026-12-31, got {got}",
    "date_from_datetime_parsing": "expected a date like 2026-12-31, got {got}",
    "time_parsing": 'expected a time of day as "HH:MM", got {got}',
    "finite_number": "expected a finite number, got {got}",
}


def _number(value: Any) -> Any:
    """`5.0` -> `5` in messages: limits of float fields are written as whole numbers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def describe(value: Any, *, secret: bool = False) -> str:
    """How a value reads in a message: `'abc'`, `the number 5`, `a list`…"""
    if value is None:
        return "nothing (the value is empty)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if secret:
        return "a value that is not shown (secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    text = str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _unknown_key(model: type[BaseModel], path: KeyPath) -> str:
    word = str(path[-1])
    owner = model_at(model, path[:-1])
    if owner is None:
        return f"unknown key '{word}'"
    future: Mapping[str, str] = getattr(owner, "future_keys", {})
    if word in future:
        return future[word]
    return f"unknown key '{word}'" + suggest(word, list(owner.model_fields), what="valid keys")


def _is_secret(model: type[BaseModel], path: KeyPath) -> bool:
    if any(isinstance(p, str) and p in SECRET_KEYS for p in path):
        return True
    owner = model_at(model, path[:-1]) if path else None
    if owner is None or not isinstance(path[-1], str):
        return False
    field = owner.model_fields.get(path[-1])
    return field is not None and SecretStr in _members(field.annotation)


def model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, if it is a model."""
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return None
    return next((m for m in _members(current) if _is_model(m)), None)


def _step(annotation: Any, part: str | int) -> Any:
    for member in _members(annotation):
        if _is_model(member) and isinstance(part, str):
            field = member.model_fields.get(part)
            if field is not None:
                return field.annotation
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if origin in (tuple, list) and isinstance(part, int) and args:
            return args[0]
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return None


def _members(annotation: Any) -> list[Any]:
    """`X | None`, `Annotated[X, …]` -> the plain types inside."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
