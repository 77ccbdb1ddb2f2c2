"""The call mix of a load run: caller streams and operator behaviour, read from YAML.

Each caller stream becomes one SIPp UAC (its share of the rate, its own scenario);
operators are the ``lop`` endpoints answered by one SIPp UAS. Unknown keys are
rejected with the key path, so a mix written for a later harness fails loudly.

    streams:
      - {name: known, share: 0.5, caller: known, hangup_after: 3}
      - {name: abandon, share: 0.1, caller: unknown, abandon_after: 2}
      - {name: menu, share: 0.1, caller: unknown, dtmf: "1", hangup_after: 3}
    operators:
      answer_delay_s: {0.5: 0.7, 2: 0.3}     # seconds: weight
      hold_s: {3: 1.0}
      never_answer_share: 0.05
      reject_share: 0.05                     # ring, then 486 Busy Here
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sip_test_harness.errors import HarnessError

DEFAULT_MIX = Path(__file__).resolve().parent / "default_mix.yaml"
MAX_STREAMS = 9  # one SIPp per stream, one caller port each (5061-5069)


class MixError(HarnessError):
    """A mix file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Stream:
    """One kind of caller, placed by its own SIPp at ``share`` of the total rate.

    ``abandon_after``: the caller gives up after that many seconds without an operator
    (CANCEL before an answer; BYE that long after the answer when the PBX answers at once).
    ``dtmf`` is sent after the answer (menu choices, ``callback`` choices when the rules
    offer one). ``hangup_after`` counts from the answer; None waits for the far end.
    ``audio``: the caller sends speech (RTP) from the answer on, as a phone does; without it
    the caller is silent, and a dialplan ``Answer()`` waits 500 ms for a first voice frame.
    """

    name: str
    share: float
    caller: Literal["known", "unknown", "anonymous"] = "unknown"
    hangup_after: float | None = 3.0
    abandon_after: float | None = None
    dtmf: str = ""
    expects: Literal["talk", "abandon", "callback"] = "talk"
    audio: bool = False


@dataclass(frozen=True)
class OperatorMix:
    """The synthetic operators: answer-delay and hold-time distributions (seconds: weight).

    ``never_answer_share`` of the operators ring until cancelled; ``reject_share`` (other
    operators) ring briefly, then decline with 486 Busy Here.
    """

    answer_delay_s: Mapping[float, float] = field(default_factory=lambda: {0.0: 1.0})
    hold_s: Mapping[float, float] = field(default_factory=lambda: {30.0: 1.0})
    never_answer_share: float = 0.0
    reject_share: float = 0.0


@dataclass(frozen=True)
class Mix:
    """A whole call mix."""

    streams: tuple[Stream, ...]
    operators: OperatorMix
    source: str = "<built-in>"

    def rates(self, total: float) -> dict[str, float]:
        """Calls per second of each stream for a total rate."""
        whole = sum(s.share for s in self.streams)
        return {s.name: total * s.share / whole for s in self.streams}

    def counts(self, total: int) -> dict[str, int]:
        """Calls of each stream for a total (largest remainders, so they add up)."""
        whole = sum(s.share for s in self.streams)
        exact = {s.name: total * s.share / whole for s in self.streams}
        counts = {name: int(value) for name, value in exact.items()}
        rest = sorted(exact, key=lambda n: exact[n] - counts[n], reverse=True)
        for name in rest[: total - sum(counts.values())]:
            counts[name] += 1
        return counts


_STREAM_KEYS = {
    "name",
    "share",
    "caller",
    "hangup_after",
    "abandon_after",
    "dtmf",
    "expects",
    "audio",
}
_OPERATOR_KEYS = {"answer_delay_s", "hold_s", "never_answer_share", "reject_share"}


def load_mix(path: Path | None = None) -> Mix:
    """Read and check a mix file (the shipped default when ``path`` is None)."""
    path = path or DEFAULT_MIX
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MixError(f"{path}: {exc}") from exc
    return parse_mix(data, str(path))


def parse_mix(data: Any, source: str) -> Mix:
    """Build a Mix from parsed YAML; MixError names ``source`` and the key path."""
    if not isinstance(data, dict) or set(data) - {"streams", "operators"}:
        raise MixError(f"{source}: expected a mapping with 'streams' and 'operators'")
    raw_streams = data.get("streams") or []
    if not isinstance(raw_streams, list) or not 1 <= len(raw_streams) <= MAX_STREAMS:
        raise MixError(f"{source}: streams: a list of 1 to {MAX_STREAMS} streams")
    streams = tuple(_stream(item, f"{source}: streams[{i}]") for i, item in enumerate(raw_streams))
    if len({s.name for s in streams}) != len(streams):
        raise MixError(f"{source}: streams: names must be unique")
    return Mix(streams, _operators(data.get("operators") or {}, f"{source}: operators"), source)


def _stream(item: Any, where: str) -> Stream:
    if not isinstance(item, dict):
        raise MixError(f"{where}: expected a mapping")
    unknown = set(item) - _STREAM_KEYS
    if unknown:
        raise MixError(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_STREAM_KEYS)})")
    try:
        stream = Stream(**item)
    except TypeError as exc:
        raise MixError(f"{where}: {exc}") from exc
    if not isinstance(stream.share, int | float) or stream.share <= 0:
        raise MixError(f"{where}.share: a positive number")
    if stream.caller not in ("known", "unknown", "anonymous"):
        raise MixError(f"{where}.caller: known, unknown or anonymous")
    if not isinstance(stream.audio, bool):
        raise MixError(f"{where}.audio: true or false")
    if set(stream.dtmf) - set("0123456789*#,"):
        raise MixError(f"{where}.dtmf: digits 0-9 * # and ',' only")
    if not stream.name.replace("_", "").isalnum():
        raise MixError(f"{where}.name: letters, digits and _ only")
    return stream


def _distribution(value: Any, where: str) -> dict[float, float]:
    if isinstance(value, int | float):
        return {float(value): 1.0}
    if not isinstance(value, dict) or not value:
        raise MixError(f"{where}: a number of seconds, or {{seconds: weight, ...}}")
    try:
        dist = {float(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise MixError(f"{where}: {exc}") from exc
    if any(k < 0 or v < 0 for k, v in dist.items()) or sum(dist.values()) <= 0:
        raise MixError(f"{where}: seconds and weights must be >= 0, weights not all 0")
    return dist


def _share(item: Mapping[str, Any], key: str, where: str) -> float:
    value = item.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise MixError(f"{where}.{key}: a number from 0 to below 1, got {value!r}")
    return float(value)


def _operators(item: Any, where: str) -> OperatorMix:
    if not isinstance(item, dict) or set(item) - _OPERATOR_KEYS:
        raise MixError(f"{where}: a mapping with keys {sorted(_OPERATOR_KEYS)}")
    never = _share(item, "never_answer_share", where)
    reject = _share(item, "reject_share", where)
    if never + reject >= 1:
        raise MixError(
            f"{where}.reject_share: never_answer_share + reject_share must be below 1 "
            f"(some operators must answer), got {never} + {reject}"
        )
    return OperatorMix(
        answer_delay_s=_distribution(item.get("answer_delay_s", 0.0), f"{where}.answer_delay_s"),
        hold_s=_distribution(item.get("hold_s", 30.0), f"{where}.hold_s"),
        never_answer_share=never,
        reject_share=reject,
    )
