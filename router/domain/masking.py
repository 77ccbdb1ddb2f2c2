"""Phone numbers as the console shows them: masked unless the viewer may see them whole.

`+79161234567` reads `+7 916 ***-**-67`: enough to tell two callers apart on a wallboard
and to match a number a patient reads out, too little to be copied off a wall screen.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

WITHHELD = "withheld"


@lru_cache(maxsize=8192)  # a wallboard masks the same few hundred numbers every snapshot
def mask_number(e164: str | None) -> str:
    """The masked form of an E.164 number; `withheld` for none, `***` for non-E.164 text
    (a raw caller ID may be anything, so it is never shown)."""
    if not e164:
        return WITHHELD
    parsed = _parse(e164)
    if parsed is None:
        return "***"
    national = str(parsed.national_number)
    if len(national) < 6:
        return f"+{parsed.country_code} ***"
    hidden = len(national) - 5  # the first 3 digits and the last 2 stay visible
    middle = "***-**" if hidden == 5 else "*" * hidden
    return f"+{parsed.country_code} {national[:3]} {middle}-{national[-2:]}"


def show_number(e164: str | None, *, whole: bool) -> str:
    """`e164` for a viewer allowed to see it whole, masked otherwise."""
    if whole and e164:
        return e164
    return mask_number(e164)


def _parse(e164: str) -> phonenumbers.PhoneNumber | None:
    if not e164.startswith("+"):
        return None
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
