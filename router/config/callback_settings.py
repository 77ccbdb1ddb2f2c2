"""`callbacks:` in router.yaml: how the router dials patients back (the outbound side).

Who gets a callback and when is policy, in the rules (`callback:` in rules.yaml); this is
plumbing: the trunk, ring times, and how long a router holds a task it claimed.
"""

from __future__ import annotations

from string import Formatter
from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt, field_validator

from router.config.fields import Section, Text

DIAL_FIELDS = ("number", "e164")


class CallbackSettings(Section):
    """The callback dispatcher (docs/callbacks.md, "The operator's experience")."""

    enabled: StrictBool = True
    # The patient's leg: `{number}` is the E.164 number without '+', `{e164}` with it.
    dial: Text = "PJSIP/{number}@patients"
    patient_ring_timeout_s: Annotated[StrictInt, Field(ge=5, le=120)] = 30
    # What the operator hears on answering, before the patient is dialled; the patient's
    # number is read out after these, then the reason prompt `<reason_prompt_prefix><reason>`.
    whisper: tuple[Text, ...] = ("clinic-callback",)
    reason_prompt_prefix: Text = "clinic-callback-"
    # Digits of the number read out: the last N (the phone's display shows it whole;
    # reading all 11 takes the operator 8 s per callback); 0 reads none.
    whisper_digits: Annotated[StrictInt, Field(ge=0, le=15)] = 4
    poll_s: Annotated[StrictFloat, Field(ge=0.2, le=60)] = 1.0
    # A claimed task that got no operator in this time goes back to the ledger (another
    # router, or this one later, takes it); a kept place is not lost by that.
    hold_s: Annotated[StrictInt, Field(ge=5, le=3600)] = 60
    # A claim with no attempt is taken over by another router after this long.
    lease_s: Annotated[StrictInt, Field(ge=30, le=3600)] = 300
    # Keys: the caller presses `keep_place_key` while waiting to be called back instead.
    keep_place_key: Text | None = "5"
    keep_place_prompt: Text = "clinic-press-5-callback"

    @field_validator("dial")
    @classmethod
    def _dial_template(cls, value: str) -> str:
        try:
            fields = [f for f in Formatter().parse(value) if f[1] is not None]
        except ValueError:  # a stray brace
            fields = [("", "?", "", None)]
        names = {name for _, name, _, _ in fields}
        decorated = any(spec or conversion for _, _, spec, conversion in fields)
        if decorated or not names & set(DIAL_FIELDS) or names - set(DIAL_FIELDS):
            raise ValueError(
                "must contain {number} (or {e164}) and no other {field}, like"
                f" PJSIP/{{number}}@patients; got {value!r}"
            )
        return value

    @field_validator("keep_place_key")
    @classmethod
    def _one_key(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value not in "0123456789*#"):
            raise ValueError(f"must be one key 0-9, * or #, or null to turn it off; got {value!r}")
        return value

    def dial_string(self, e164: str) -> str:
        """The endpoint to originate for an E.164 number (validated before it gets here)."""
        return self.dial.format(number=e164.lstrip("+"), e164=e164)


__all__ = ["CallbackSettings"]
