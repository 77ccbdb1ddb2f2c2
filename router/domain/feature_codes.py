"""Feature codes an operator dials from their own phone to change their presence.

    *71   log in (available)        *72   log out (offline)
    *73N  pause with reason code N  *74   back from a pause (available)

The code is untrusted input (anything can be dialled): whatever is not exactly one of
these is refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from router.domain.operators import Presence, PresenceChange

DEFAULT_PAUSE_REASONS: Mapping[str, str] = {
    "0": "pause",
    "1": "break",
    "2": "lunch",
    "3": "training",
    "4": "meeting",
    "5": "paperwork",
    "6": "callbacks",
}


def parse_feature_code(
    code: str, pause_reasons: Mapping[str, str] = DEFAULT_PAUSE_REASONS
) -> PresenceChange | None:
    """The presence change a dialled code asks for (`*` optional), or None."""
    digits = code.removeprefix("*")
    if digits == "71" or digits == "74":
        return PresenceChange(Presence.AVAILABLE)
    if digits == "72":
        return PresenceChange(Presence.OFFLINE)
    if len(digits) == 3 and digits.startswith("73") and digits[2] in pause_reasons:
        return PresenceChange(Presence.PAUSED, pause_reasons[digits[2]])
    return None
