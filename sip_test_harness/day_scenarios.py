"""SIPp XML of the generated day: its callers (one UAC for the whole day) and the phones
that answer (the day's operators, and the patients' phones that callbacks ring).

Pure functions. The operators and patients are the load harness's UAS
(`load.scenarios.operators_xml`) fed the day's scaled distributions; the caller template
`scenarios/day_caller` branches on each call's key and patience bucket (SIPp timeouts
are fixed numbers, so every bucket is its own `recv`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sip_test_harness.day_plan import FOREVER, DayPlan
from sip_test_harness.scenarios import WAIT_FOREVER_MS, dtmf_elements, render

ANSWER_TIMEOUT_S = 60.0  # no 200 OK from the PBX at all: the caller CANCELs (a failure)
DTMF_DELAY_S = 0.5  # from the answer to the key (the menu's beep is under way)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _key_branches(keys: Sequence[str]) -> str:
    lines = ["  <nop><action>"]
    lines += [
        f'    <test assign_to="key_{k}" variable="key" compare="equal" value="{k}"/>' for k in keys
    ]
    lines.append("  </action></nop>")
    lines += [f'  <nop next="press_{k}" test="key_{k}"/>' for k in keys]
    lines.append('  <nop next="patience"/>')
    for k in keys:
        lines += [f'  <label id="press_{k}"/>', dtmf_elements(k, delay=DTMF_DELAY_S)]
        lines.append('  <nop next="patience"/>')
    return "\n".join(lines)


def _patience_branches(buckets_s: Sequence[float]) -> str:
    lines = ["  <nop><action>"]
    lines += [
        f'    <test assign_to="bucket_{i}" variable="patience" compare="equal" value="{i}"/>'
        for i in range(len(buckets_s))
    ]
    lines.append("  </action></nop>")
    lines += [f'  <nop next="hold_{i}" test="bucket_{i}"/>' for i in range(len(buckets_s))]
    lines.append(f'  <recv request="BYE" timeout="{WAIT_FOREVER_MS}" ontimeout="hangup"/>')
    lines.append('  <nop next="bye"/>')
    for i, seconds in enumerate(buckets_s):
        lines += [
            f'  <label id="hold_{i}"/>',
            f'  <recv request="BYE" timeout="{_ms(seconds)}" ontimeout="hangup"/>',
            '  <nop next="bye"/>',
        ]
    return "\n".join(lines)


def caller_xml(plan: DayPlan) -> str:
    """The UAC placing every call of the day (fields from `day_plan.injection_csv`)."""
    keys = sorted({c.key for c in plan.calls if c.key})
    assert all(c.patience == FOREVER or 0 <= c.patience < len(plan.patience_s) for c in plan.calls)
    return render(
        "day_caller",
        answer_timeout_ms=_ms(ANSWER_TIMEOUT_S),
        key_branches=_key_branches(keys),
        patience_branches=_patience_branches(plan.patience_s),
    )
