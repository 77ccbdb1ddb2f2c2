"""What an inbound call knows of its caller, filled in as the call goes on; the parts
that need it (ringing, waiting, keep-my-place, misses) read the same record."""

from __future__ import annotations

from dataclasses import dataclass, field

from router.config.rules_build import Line
from router.domain.miss_target import MissTarget
from router.domain.phone import CallerId, normalise_caller
from router.engine.call_state import MissFacts, Resume


@dataclass
class Caller:
    call_id: str
    line: Line | None  # None: a number no line lists
    # Only a validated number reaches an operator's display; set once per call.
    e164: str | None = None
    patient_id: str | None = None
    assigned_operator: str | None = None  # their manager, first among the eligible
    miss_target: MissTarget | None = None  # what the call waits for (set by the walk)
    menu_path: list[str] = field(default_factory=list)  # "menu:key" answers, for the journey

    @classmethod
    def of(cls, call_id: str, line: Line | None, resume: Resume | None) -> Caller:
        if resume is None:
            return cls(call_id, line)
        return cls(call_id, line, resume.caller_e164, resume.patient_id)

    @property
    def line_id(self) -> str | None:
        return self.line.id if self.line else None

    def number(self, raw: str, region: str) -> CallerId:
        """`raw` (the channel's caller id) read in the line's region and area code."""
        area = self.line.area_code if self.line else None
        return normalise_caller(raw, region=region, area_code=area)

    def learn_number(self, raw: str, region: str) -> bool:
        """Adopted with no number (its row lost, or written before the caller was
        identified): from the channel's caller id, as at arrival; else an abandon would be
        a miss with no callback task ("number withheld"). True: learnt now."""
        if self.e164 is not None or not raw:
            return False
        self.e164 = self.number(raw, region).e164
        return self.e164 is not None

    def miss(self, number: str | None = None) -> MissFacts:
        """Who missed, for the ledger (`number`: another than their own)."""
        own = self.e164 if number is None else number
        return MissFacts(self.call_id, own, self.patient_id, self.line_id, self.miss_target)
