"""Which prompts a router plays, in which languages (pure: settings and rules in,
names out), for `clinic-router prompts list|generate` and `doctor`.

The names come from the rules (menus, options, messages, queue announcements; every
text field named like a prompt, wherever the routing graph nests it), the callback
settings (whisper, reason prompts, keep-my-place) and the router's own fixed prompts.
Asterisk's stock sounds the router also plays (`queue-youarenext`, digits) come with
asterisk-core-sounds-* and are checked like the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from router.config.rules import Rules
from router.config.settings import Settings
from router.domain.callback_policy import MissReason

# Fields of the rules' objects that hold a sound name.
_PROMPT_FIELDS = frozenset({"prompt", "invalid_prompt", "message", "announcement"})
# What the router plays by itself (engine/inbound/keep_place.py, inbound/waiting.py).
KEEP_PLACE_PROMPTS = (
    "clinic-callback-confirm",
    "clinic-callback-invalid-number",
    "clinic-callback-promise",
    "clinic-callback-within",
    "clinic-callback-opening-hours",
    "queue-minutes",
)
QUEUE_ANNOUNCEMENTS = (
    "queue-youarenext",
    "queue-thereare",
    "queue-callswaiting",
    "queue-holdtime",
    "queue-minutes",
)
# An option with `say_visit` (router/engine/inbound/menu_keys.py).
VISIT_PROMPTS = ("clinic-visit-today", "clinic-visit-tomorrow")
# The fallback dialplan's own message (router/asterisk_config/render.py).
FALLBACK_PROMPTS = ("vm-nobodyavail",)
# Missed-call reasons the whisper reads out (the fallback's unanswered calls included).
_WHISPER_REASONS = (*(reason.value for reason in MissReason), "keep_place", "fallback_unanswered")


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """(field name, value) of every field of dataclasses nested in `value`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for spec in dataclasses.fields(value):
            inner = getattr(value, spec.name)
            yield spec.name, inner
            yield from _walk(inner)
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for inner in value:
            yield from _walk(inner)


def _languages(sections: object) -> list[str]:
    """Languages callers may be served in besides their line's: a route's `language`
    condition, a queue's `languages` (prompts then play in those)."""
    found = []
    for name, value in _walk(sections):
        if name == "language" and isinstance(value, str):
            found.append(value)
        elif name == "languages" and isinstance(value, (tuple, list, frozenset)):
            found.extend(str(v) for v in value)
    return found


def rule_prompts(rules: Rules) -> list[str]:
    """Sound names the rules name, in first-seen order."""
    found: dict[str, None] = {}
    for section in (rules.menus, rules.routes, rules.queues, rules.lines):
        for name, value in _walk(section):
            if name in _PROMPT_FIELDS and isinstance(value, str) and value:
                found.setdefault(value, None)
            elif name == "say_visit" and value is True:
                found.update(dict.fromkeys(VISIT_PROMPTS))
    return list(found)


def prompts_used(settings: Settings, rules: Rules) -> dict[str, tuple[str, ...]]:
    """Every prompt name -> the languages it must exist in (the lines' languages)."""
    languages = tuple(
        dict.fromkeys(
            [line.language for line in rules.lines]
            + [lang for lang in _languages((rules.routes, rules.queues)) if lang]
        )
    ) or ("ru",)
    names: dict[str, None] = dict.fromkeys(rule_prompts(rules))
    names.setdefault(settings.routing.shared_phone_prompt, None)
    callbacks = settings.callbacks
    for name in callbacks.whisper:
        names.setdefault(name, None)
    for reason in _WHISPER_REASONS:
        names.setdefault(f"{callbacks.reason_prompt_prefix}{reason}", None)
    if callbacks.keep_place_key is not None:
        names.setdefault(callbacks.keep_place_prompt, None)
        names.update(dict.fromkeys(KEEP_PLACE_PROMPTS))
    if any(queue.announce_every_s for queue in rules.queues.values()):
        names.update(dict.fromkeys(QUEUE_ANNOUNCEMENTS))
    names.update(dict.fromkeys(FALLBACK_PROMPTS))
    return {name: languages for name in names}
