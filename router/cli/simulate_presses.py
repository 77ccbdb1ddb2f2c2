"""`simulate`'s keys: which `--press` answers which question, and the shared-phone question
as the live router asks it (`router/domain/shared_phone.py` has the order of the keys).

`--press KEY` keys are taken in the order the caller is asked: the shared-phone question
first (the live router asks it while identifying the caller), then each menu that plays.
`--press patient=KEY` answers the shared-phone question only; `-` is no key at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from router.domain.shared_phone import choice_prompts, chosen_patient, patient_choices
from router.engine.facts import family_record
from router.storage.models import PatientRecord


class UsageError(Exception):
    """A bad argument: printed as one line, exit code 2."""


NO_KEY = "-"  # `--press -`: the caller presses nothing at that question
PATIENT_QUESTION = "patient"  # `--press patient=2`: the key for the shared-phone question
_KEY = re.compile(r"[0-9*#]")


@dataclass(frozen=True, slots=True)
class Presses:
    """`--press` values: the shared-phone key when named, the rest in order asked."""

    patient: str | None
    named_patient: bool
    in_order: list[str | None]

    @classmethod
    def parse(cls, values: Sequence[str]) -> Presses:
        patient: str | None = None
        named = False
        in_order: list[str | None] = []
        for value in values:
            name, _, key = value.rpartition("=")
            if name not in ("", PATIENT_QUESTION):
                raise UsageError(
                    f"--press {value!r}: write a key (0-9, * or #), '-' for no key, or"
                    f" {PATIENT_QUESTION}=KEY for the shared-phone question"
                )
            if key != NO_KEY and not _KEY.fullmatch(key):
                raise UsageError(f"--press {value!r}: {key!r} is not a phone key (0-9, * or #)")
            if name:
                patient, named = (None if key == NO_KEY else key), True
            else:
                in_order.append(None if key == NO_KEY else key)
        return cls(patient, named, in_order)

    def for_patient(self) -> str | None:
        """The key for the shared-phone question (asked first, as the live router does)."""
        if self.named_patient:
            return self.patient
        return self.in_order.pop(0) if self.in_order else None


def step(kind: str, text: str, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "text": text, **data}


def shared_phone_choice(
    records: tuple[PatientRecord, ...], presses: Presses, prompt: str
) -> tuple[PatientRecord | None, dict[str, Any] | None]:
    """The patient the call is about, as the live router asks (`_choose_patient`)."""
    if len(records) <= 1:
        if presses.named_patient:
            raise UsageError(
                f"--press {PATIENT_QUESTION}=…: the caller's number has"
                f" {len(records) or 'no'} patient on record, so nobody is asked which one"
            )
        return (records[0] if records else None), None
    offered = patient_choices(records)
    key = presses.for_patient()
    chosen = chosen_patient(offered, key)
    keys = ", ".join(
        f"{i} {p.id} {p.name}" + (f" ({p.birth_year})" if p.birth_year else "")
        for i, p in enumerate(offered, start=1)
    )
    said = "no key pressed" if key is None else f"caller pressed {key}"
    if chosen is None:
        outcome = f"{said}{'' if key is None else ' (not offered)'}: the family"
        record = family_record(list(records))
    else:
        outcome, record = f"{said}: patient {chosen.id} {chosen.name}", chosen
    text = (
        f"shared phone: {len(records)} patients on this number; play"
        f" {' '.join(choice_prompts(prompt, offered))} [{keys}]; {outcome}"
    )
    return record, step(
        "shared_phone",
        text,
        prompts=choice_prompts(prompt, offered),
        choices=[{"key": str(i), "patient": p.id} for i, p in enumerate(offered, start=1)],
        key=key,
        patient=record.id,
    )
