"""One phone, several patients (a parent calling for the children): which key is whom.

The live router reads the choice out (`shared_phone_prompt`, then each patient's birth
year and key) and `simulate` shows the same list, so both take it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

MAX_CHOICES = 9  # one key each, 1..9


class Person(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def birth_year(self) -> int | None: ...


P = TypeVar("P", bound=Person)


def patient_choices(patients: Sequence[P]) -> tuple[P, ...]:
    """The patients offered, in key order: oldest first (no birth year last), at most nine."""
    ordered = sorted(patients, key=lambda p: (p.birth_year or 9999, p.name, p.id))
    return tuple(ordered[:MAX_CHOICES])


def choice_prompts(prompt: str, offered: Sequence[Person]) -> list[str]:
    """What the caller hears: the question, then each patient's birth year and key."""
    prompts = [prompt]
    for key, patient in enumerate(offered, start=1):
        if patient.birth_year:
            prompts.append(f"number:{patient.birth_year}")
        prompts.append(f"digits:{key}")
    return prompts


def chosen_patient(offered: Sequence[P], key: str | None) -> P | None:
    """The patient a key picks; None (no key, or a key not offered) means the family."""
    if key is not None and key.isdigit() and 1 <= int(key) <= len(offered):
        return offered[int(key) - 1]
    return None
