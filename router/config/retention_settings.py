"""`retention:` in router.yaml: how long the history is kept before the router prunes it.

What is kept and why (docs/operations.md, "How long data is kept"): calls, their journeys
and rings and the callback ledger are personal data (the caller's number) kept as long as
reports compare a period with the same one a year before; operator state changes as long
as the calls whose reports use them; the audit log, which answers "who did what", longest.
`null` keeps a table for ever. Without the section nothing is pruned (`Settings.retention`
is None).
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StrictInt, field_validator, model_validator

from router.config.fields import Section

MIN_DAYS = 31  # a month's report is always computable from the rows themselves
MIN_AUDIT_DAYS = 365  # an audit that cannot look back a year does not answer it

Days = StrictInt | None


class RetentionSettings(Section):
    """Days each kind of history is kept (`null`: for ever), and how pruning runs."""

    # Calls with their journeys (call_events) and rings (ring_attempts).
    calls_days: Days = 730
    # Closed callback tasks with their misses and rings; misses that made no task.
    callbacks_days: Days = 730
    # Operator state changes (pause and wrap-up time in the reports).
    operator_states_days: Days = 730
    # Console sign-ins and supervisor/admin actions.
    audit_log_days: Days = 1095
    # Rows deleted per transaction (a call's events and rings go with it), and the pause
    # between two: SQLite has one writer, and the journal's writes wait for each batch.
    batch_rows: Annotated[StrictInt, Field(ge=10, le=10_000)] = 500
    pause_ms: Annotated[StrictInt, Field(ge=0, le=10_000)] = 100
    # How often the running router prunes (the first time 10 minutes after it starts).
    every_h: Annotated[StrictInt, Field(ge=1, le=168)] = 24

    def days(self) -> dict[str, int | None]:
        """Days kept per kind of history (`router.storage.retention.KINDS`)."""
        return {
            "calls": self.calls_days,
            "callbacks": self.callbacks_days,
            "operator_states": self.operator_states_days,
            "audit_log": self.audit_log_days,
        }

    @field_validator("calls_days", "callbacks_days", "operator_states_days")
    @classmethod
    def _history(cls, value: int | None) -> int | None:
        return _at_least(value, MIN_DAYS, "a month's report needs its rows")

    @field_validator("audit_log_days")
    @classmethod
    def _audit(cls, value: int | None) -> int | None:
        return _at_least(value, MIN_AUDIT_DAYS, "an audit looks back a year")

    @model_validator(mode="after")
    def _states_cover_calls(self) -> Self:
        if _longer(self.calls_days, self.operator_states_days):
            raise ValueError(
                f"operator_states_days ({_said(self.operator_states_days)}) must be at"
                f" least calls_days ({_said(self.calls_days)}): the reports of the calls"
                " still kept would lose their operators' pause and wrap-up time"
            )
        if _longer(self.calls_days, self.callbacks_days):
            raise ValueError(
                f"callbacks_days ({_said(self.callbacks_days)}) must be at least"
                f" calls_days ({_said(self.calls_days)}): the misses of the calls still"
                " kept would go, and their reports' callback figures with them"
            )
        return self


def _at_least(value: int | None, least: int, why: str) -> int | None:
    if value is not None and value < least:
        raise ValueError(f"must be at least {least} days ({why}), or null to keep for ever")
    return value


def _said(days: int | None) -> str:
    return "null: for ever" if days is None else str(days)


def _longer(a: int | None, b: int | None) -> bool:
    """`a` days keep more than `b` days (None: for ever)."""
    if a is None:
        return b is not None
    return b is not None and a > b


__all__ = ["MIN_AUDIT_DAYS", "MIN_DAYS", "RetentionSettings"]
