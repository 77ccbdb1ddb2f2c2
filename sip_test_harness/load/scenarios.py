"""SIPp XML of a load run: the caller streams and the one UAS for all load operators.

Pure functions. The templates live in ``load/scenarios/<name>/scenario.xml``; the
operators' distributions become branches: the UAS draws a uniform number per call and
jumps to the bucket whose cumulative weight it falls under (SIPp's ``recv timeout``
takes only a fixed value, so each bucket has its own ``recv``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from sip_test_harness.load.mix import OperatorMix, Stream
from sip_test_harness.scenarios import PCAP_DIR, WAIT_FOREVER_MS, dtmf_elements

TEMPLATES = Path(__file__).resolve().parent / "scenarios"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
NO_ANSWER_TIMEOUT_S = 60.0  # a talking caller gives up (CANCEL, counted as failed) after this
# A rejecting operator's phone rings this long before its user presses "reject"
REJECT_AFTER_S = 1.0
# 7 s of A-law speech (SIPp's own sample, RTP payload type 8): a caller's voice from the
# answer on; a DTMF pcap played later replaces it (SIPp plays one pcap per call at a time)
AUDIO_PCAP = PCAP_DIR / "g711a.pcap"


def _render(name: str, values: Mapping[str, str]) -> str:
    template = (TEMPLATES / name / "scenario.xml").read_text(encoding="utf-8")
    wanted = set(_PLACEHOLDER.findall(template))
    if wanted != set(values):
        missing = sorted(wanted ^ set(values))
        raise ValueError(f"load scenario {name}: placeholders differ: {missing}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def caller_xml(stream: Stream) -> str:
    """The UAC scenario of one stream (From and DID come from the injection file)."""
    answer_timeout: float
    hangup: float | None
    if stream.abandon_after is not None:
        # gives up after abandon_after: CANCEL if unanswered, else BYE that long after
        # the answer (a PBX that answers at once and plays music while operators ring)
        answer_timeout, hangup = stream.abandon_after, stream.abandon_after
    else:
        answer_timeout, hangup = NO_ANSWER_TIMEOUT_S, stream.hangup_after
    return _render(
        "load_caller",
        {
            "answer_timeout_ms": str(_ms(answer_timeout)),
            "hangup_after_ms": str(WAIT_FOREVER_MS if hangup is None else _ms(hangup)),
            "dtmf": _audio(stream.audio)
            + (dtmf_elements(stream.dtmf, delay=0.5) if stream.dtmf else ""),
        },
    )


def _audio(on: bool) -> str:
    if not on:
        return ""
    return f'  <nop><action><exec play_pcap_audio="{AUDIO_PCAP}"/></action></nop>\n'


def _buckets(dist: Mapping[float, float]) -> list[tuple[float, float]]:
    """(seconds, cumulative share) per bucket, the last at 1.0."""
    total = sum(dist.values())
    out, running = [], 0.0
    for seconds, weight in sorted(dist.items()):
        if weight <= 0:
            continue
        running += weight / total
        out.append((seconds, running))
    out[-1] = (out[-1][0], 1.0)
    return out


def _branches(
    dist: Mapping[float, float], draw: str, prefix: str, wait: str, ontimeout: str, after: str
) -> str:
    """Jump to a bucket by ``draw``; each bucket waits for ``wait`` for its seconds."""
    buckets = _buckets(dist)
    tests = "".join(
        f'    <test assign_to="{prefix}_{i}" variable="{draw}" compare="less_than" '
        f'value="{cum:.6f}"/>\n'
        for i, (_, cum) in enumerate(buckets[:-1])
    )
    sample = f'    <sample assign_to="{draw}" distribution="uniform" min="0" max="1"/>\n'
    lines = [f"  <nop><action>\n{sample}{tests}  </action></nop>"] if tests else []
    lines += [f'  <nop next="{prefix}{i}" test="{prefix}_{i}"/>' for i in range(len(buckets) - 1)]
    lines.append(f'  <nop next="{prefix}{len(buckets) - 1}"/>')
    for i, (seconds, _) in enumerate(buckets):
        lines += [
            f'  <label id="{prefix}{i}"/>',
            f'  <recv request="{wait}" timeout="{_ms(seconds)}" ontimeout="{ontimeout}"/>',
            f'  <nop next="{after}"/>',
        ]
    return "\n".join(lines)


def invite_pattern(operators: Sequence[str]) -> str:
    """Regexp on the INVITE's request line matching calls to ``operators`` (none: nobody)."""
    if not operators:
        return "^INVITE sip:never-matches@"
    return "^INVITE sip:(" + "|".join(operators) + ")@"


def operators_xml(mix: OperatorMix, never: Sequence[str], reject: Sequence[str] = ()) -> str:
    """The UAS scenario answering for every load operator."""
    return _render(
        "load_operators",
        {
            "never_pattern": invite_pattern(never),
            "reject_pattern": invite_pattern(reject),
            "reject_after_ms": str(_ms(REJECT_AFTER_S)),
            "answer_branches": _branches(
                mix.answer_delay_s, "answer_draw", "ring", "CANCEL", "answer", "cancelled"
            ),
            "hold_branches": _branches(mix.hold_s, "hold_draw", "hold", "BYE", "hangup", "bye"),
        },
    )


def never_answering(operators: Sequence[str], share: float) -> list[str]:
    """The last ``share`` of the operators (at least one when share > 0)."""
    if share <= 0 or not operators:
        return []
    count = max(1, round(len(operators) * share))
    return list(operators[-count:])


def rejecting(operators: Sequence[str], share: float, never: Sequence[str]) -> list[str]:
    """The ``share`` of the operators just before the never-answering ones (at least one
    when share > 0), but never the last operator left to answer."""
    others = [op for op in operators if op not in set(never)]
    if share <= 0 or len(others) < 2:
        return []
    count = min(len(others) - 1, max(1, round(len(operators) * share)))
    return others[-count:]
