"""SIPp scenarios: the XML templates under ``scenarios/<name>/`` rendered for one run.

Pure functions (no processes): templates hold ``{{name}}`` placeholders for the
numbers SIPp cannot take from the command line (receive timeouts, DTMF pcaps).
Caller-controlled values (From user, DID) are never rendered into the XML: they go
through ``-set``/``-s`` so SIPp keywords in them (``[``) are not interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
PCAP_DIR = Path("/usr/share/sip-tester")
DTMF_PCAPS = {
    **{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"},
    "*": "dtmf_2833_star.pcap",
    "#": "dtmf_2833_pound.pcap",
}
DTMF_PAUSE = ","  # in a DTMF string: wait one second more before the next digit
WAIT_FOREVER_MS = 86_400_000  # a receive "timeout" that never fires (SIPp's -timeout ends runs)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(name: str, **values: str | int) -> str:
    """Fill the placeholders of ``scenarios/<name>/scenario.xml``; every one must be given."""
    template = (SCENARIO_DIR / name / "scenario.xml").read_text()
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != set(values):
        raise ValueError(f"scenario {name}: placeholders {sorted(wanted)}, got {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def _ms(seconds: float) -> int:
    """Seconds to whole milliseconds, at least 1 (a SIPp timeout of 0 means 'none')."""
    return max(1, round(seconds * 1000))


def dtmf_elements(
    digits: str, *, delay: float = 1.0, gap: float = 0.3, pcap_dir: Path = PCAP_DIR
) -> str:
    """SIPp elements that send ``digits`` as RFC 2833 events after ``delay`` seconds.

    ``play_pcap_audio`` returns at once, so each digit (a 140 ms pcap) is followed by a
    pause of ``gap`` seconds; ``,`` adds one second.
    """
    unknown = sorted(set(digits) - set(DTMF_PCAPS) - {DTMF_PAUSE})
    if unknown:
        raise ValueError(f"cannot send DTMF {''.join(unknown)!r} (allowed: 0-9 * # and ,)")
    if not digits:
        return ""
    lines = [f'  <pause milliseconds="{_ms(delay)}"/>']
    for digit in digits:
        if digit == DTMF_PAUSE:
            lines.append('  <pause milliseconds="1000"/>')
            continue
        pcap = pcap_dir / DTMF_PCAPS[digit]
        lines.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
        lines.append(f'  <pause milliseconds="{_ms(gap)}"/>')
    return "\n".join(lines)


def caller_scenario(
    *,
    dtmf: str = "",
    hangup_after: float | None = None,
    dtmf_delay: float = 1.0,
    dtmf_gap: float = 0.3,
) -> str:
    """A call answered by the far end: DTMF, then wait for BYE or hang up after ``hangup_after``.

    ``hangup_after`` counts from the end of the DTMF; None waits for the far end's BYE.
    """
    hangup_ms = WAIT_FOREVER_MS if hangup_after is None else _ms(hangup_after)
    return render(
        "caller",
        dtmf=dtmf_elements(dtmf, delay=dtmf_delay, gap=dtmf_gap),
        hangup_after_ms=hangup_ms,
    )


def cancel_scenario(cancel_after: float) -> str:
    """A caller who gives up: CANCEL after ``cancel_after`` s without a new response."""
    return render("caller_cancel", cancel_after_ms=_ms(cancel_after))


@dataclass(frozen=True)
class Behaviour:
    """How a simulated phone treats every INVITE it gets.

    kind ``answer``: ring ``answer_after`` s, answer, then hang up after ``hold`` s (None:
    wait for the far end's BYE). ``never``: ring until cancelled. ``busy``: 486 at once.
    """

    kind: Literal["answer", "never", "busy"] = "answer"
    answer_after: float = 0.0
    hold: float | None = None
    # After answering, the phone talks: the RTP of this pcap (e.g. PCAP_DIR / "g711a.pcap",
    # 7 s of speech) is sent to the far end once.
    audio: Path | None = None
    # The audio port the answer's SDP gives (None: SIPp's own): a test's socket there
    # receives the audio Asterisk sends the phone.
    sdp_port: int | None = None

    @classmethod
    def parse(cls, spec: str, hold: float | None = None) -> Behaviour:
        """``answer`` | ``busy`` | ``never`` | ``delay:<seconds>`` (answer after a delay)."""
        if spec in ("answer", "never", "busy"):
            return cls(kind=spec, hold=hold)  # type: ignore[arg-type]
        name, _, value = spec.partition(":")
        if name == "delay" and value:
            try:
                return cls(kind="answer", answer_after=float(value), hold=hold)
            except ValueError:
                pass
        raise ValueError(f"unknown phone behaviour {spec!r} (answer, busy, never, delay:<s>)")

    def scenario(self) -> str:
        """The rendered UAS scenario for this behaviour."""
        if self.kind == "busy":
            return render("phone_busy")
        if self.kind == "never":
            return render("phone_never")
        hold_ms = WAIT_FOREVER_MS if self.hold is None else _ms(self.hold)
        media = ""
        if self.audio is not None:
            media = f'  <nop><action><exec play_pcap_audio="{self.audio}"/></action></nop>'
        return render(
            "phone_answer",
            answer_after_ms=_ms(self.answer_after),
            hold_ms=hold_ms,
            media=media,
            sdp_port="[media_port]" if self.sdp_port is None else self.sdp_port,
        )
