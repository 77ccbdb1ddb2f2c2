"""Which recent calls the console's calls view lists (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar


class CallLike(Protocol):
    @property
    def caller_e164(self) -> str | None: ...
    @property
    def operator_id(self) -> str | None: ...
    @property
    def outcome(self) -> object: ...


@dataclass(frozen=True, slots=True)
class CallFilter:
    number: str | None = None  # E.164
    operator: str | None = None
    outcome: str | None = None

    def keeps(self, call: CallLike) -> bool:
        if self.number and call.caller_e164 != self.number:
            return False
        if self.operator and call.operator_id != self.operator:
            return False
        return not (self.outcome and str(call.outcome or "live") != self.outcome)


T = TypeVar("T", bound=CallLike)


def filtered(calls: Iterable[T], rule: CallFilter, limit: int) -> list[T]:
    return [c for c in calls if rule.keeps(c)][:limit]
