"""Caller-ID normalisation to E.164.

Caller IDs are untrusted input: Asterisk hands us up to 79 characters of arbitrary text
(`anonymous`, empty, spaces, quotes, `;`, `*#`, U+FFFD...). We never raise on them: the
result is either an E.164 number or an "unknown caller" with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

MAX_RAW_LENGTH = 80  # Asterisk truncates to 79; anything longer is not from Asterisk.
_WITHHELD = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "0"}
)
_ALLOWED = re.compile(r"^[0-9+()\-. ]+$")
_EXTENSION = re.compile(r"(?:;ext=|;|#|ext\.?|x)\s*\d*$", re.IGNORECASE)


class CallerStatus(StrEnum):
    OK = "ok"
    WITHHELD = "withheld"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class CallerId:
    """A normalised caller number. `raw` is kept (truncated) for logs only."""

    raw: str
    status: CallerStatus
    e164: str | None = None

    @property
    def known(self) -> bool:
        return self.e164 is not None


def normalise_caller(
    raw: str | None,
    *,
    region: str = "RU",
    area_code: str | None = None,
    strip_prefix: str = "",
) -> CallerId:
    """Normalise a caller number to E.164, never raising.

    `area_code` completes local numbers dialled without one (7 digits in Moscow's 495);
    `strip_prefix` removes digits a trunk adds in front (e.g. an outside-line `9`).
    """
    text = (raw or "").strip()[:MAX_RAW_LENGTH]
    if text.lower() in _WITHHELD:
        return CallerId(raw=text, status=CallerStatus.WITHHELD)
    candidate = _EXTENSION.sub("", text).strip()
    if not candidate or not _ALLOWED.match(candidate):
        return CallerId(raw=text, status=CallerStatus.INVALID)
    digits = re.sub(r"\D", "", candidate)
    plus = candidate.startswith("+")
    if strip_prefix and not plus and digits.startswith(strip_prefix):
        digits = digits[len(strip_prefix) :]
    if not 5 <= len(digits) <= 15:
        return CallerId(raw=text, status=CallerStatus.INVALID)
    e164 = _to_e164(digits, plus=plus, region=region, area_code=area_code)
    if e164 is None:
        return CallerId(raw=text, status=CallerStatus.INVALID)
    return CallerId(raw=text, status=CallerStatus.OK, e164=e164)


def _to_e164(digits: str, *, plus: bool, region: str, area_code: str | None) -> str | None:
    attempts: list[str] = []
    if plus:
        attempts.append("+" + digits)
    else:
        if area_code and len(digits) == 7:
            digits = area_code + digits
        attempts.append(digits)
        # 79161234567 is the international form written without '+'.
        attempts.append("+" + digits)
    for attempt in attempts:
        try:
            number = phonenumbers.parse(attempt, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


_E164_FORM = re.compile(r"\+[1-9][0-9]{1,14}")


def is_e164(text: str) -> bool:
    """Whether `text` is already in E.164 form ('+' and 2-15 digits); no validity check."""
    return _E164_FORM.fullmatch(text) is not None


def normalise_did(raw: str | None) -> str:
    """A dialled number as the dialplan saw it, reduced to `+` and digits (for matching)."""
    text = (raw or "")[:MAX_RAW_LENGTH]
    digits = re.sub(r"\D", "", text)
    return ("+" if text.startswith("+") else "") + digits
