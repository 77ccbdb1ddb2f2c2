"""A clinic network's day, generated: who calls when, what they press, how long they hold
on, and how the operators answer; every time divided by one scale factor.

Pure (no processes): `generate_day` gives the calls; `day_rules`, `day_settings` and the
injection file are what `sip_test_harness.day` plays through the sandbox.

How the scale is applied: arrivals, patience, talk times and answer delays are the day's
divided by `scale` (a 12-hour day at scale 60 plays in 12 minutes). The router's timers
are the day's divided by `scale` too, but the router takes whole seconds and has floors
(ring timeout 5 s, a queue's max wait 10 s, menu timeout 1 s, callback retries in whole
minutes): each is the scaled value rounded, raised to its floor. `ScaledTimers` holds both,
and the run prints them, so a floor that stretches the day (a ring-out costs 5 s, which is
5 x scale seconds of the day) is stated, not hidden.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sip_test_harness.load.files import ROUTER_DID
from sip_test_harness.load.mix import OperatorMix
from sip_test_harness.sandbox_config import LOAD_OPERATORS

Caller = Literal["known", "unknown"]
OPERATORS = 17
MAX_OPERATORS = len(LOAD_OPERATORS)  # the sandbox's load phones: lop001..lop200
# Share of the day's calls per hour from 08:00 (12 open hours). "monday": the peak a
# clinic network sees on Monday morning, after the weekend; "midweek": flatter.
PROFILES: Mapping[str, Sequence[float]] = {
    "monday": (9, 15, 13, 11, 9, 8, 8, 7, 6, 6, 5, 3),
    "midweek": (7, 10, 10, 9, 9, 9, 9, 9, 8, 8, 7, 5),
    "monday-morning": (9, 15, 13),  # the peak alone, 08:00-11:00 (the sandbox smoke test)
}
OPEN_FROM_H = 8
# Menu keys of callers the router does not know (the day's rules): 1 paid services,
# 2 test results, 9 call me back, "" presses nothing (the default, 1, after the timeout).
MENU_CHOICES: Mapping[str, float] = {"1": 0.55, "2": 0.25, "9": 0.05, "": 0.15}
# Withheld numbers are left out: SIPp could not tell which of them an operator answered
# (the operator's phone sees no number), so the check against the report would blur.
KNOWN_SHARE = 0.6
# Patience, counted from the clinic's answer: most callers hold on until served (or the
# queue's max wait); the others give up after an exponential time (mean 60 s of the day),
# drawn as one of PATIENCE_BUCKETS equal-probability quantiles (SIPp timeouts are fixed
# numbers, so the scenario branches on the bucket).
IMPATIENT_SHARE, PATIENCE_MEAN_S, PATIENCE_BUCKETS = 0.3, 60.0, 8
FOREVER = -1  # the bucket of callers who hold on until the far end hangs up
# Operators (seconds of the day: weight). The long delay is an operator who lets it ring
# until the router's ring timeout.
ANSWER_DELAY_S: Mapping[float, float] = {3: 0.45, 6: 0.3, 12: 0.15, 20: 0.06}
RING_OUT_SHARE = 0.04
TALK_MEDIAN_S, TALK_SIGMA, TALK_BUCKETS = 150.0, 0.5, 8  # lognormal talk time
# Patients' phones for callbacks: most answer after a few seconds, some do not answer.
PATIENT_ANSWER_S, PATIENT_NO_ANSWER_SHARE, PATIENT_TALK_S = 6.0, 0.2, 60.0
NEVER_S = 3600.0  # an answer delay no ring outlasts (the router cancels it first)


@dataclass(frozen=True, slots=True)
class DayCall:
    """One call of the day: when (seconds from opening, already scaled), from whom."""

    at_s: float
    number: str  # the From user
    caller: Caller
    key: str  # menu key pressed ("" none; known callers hear no menu)
    patience: int  # index into `DayPlan.patience_s`, or FOREVER


@dataclass(frozen=True, slots=True)
class ScaledTimers:
    """The router's timers for the day: the day's value / scale, rounded, at its floor."""

    ring_timeout_s: int
    max_wait_s: int
    menu_timeout_s: int
    retry_after_min: tuple[int, ...]
    patient_ring_timeout_s: int

    @classmethod
    def for_scale(cls, scale: float) -> ScaledTimers:
        return cls(
            ring_timeout_s=_floored(20 / scale, 5),
            max_wait_s=_floored(600 / scale, 10),
            menu_timeout_s=_floored(5 / scale, 1),
            retry_after_min=(0, max(0, round(60 / scale))),  # at once, then after an hour
            patient_ring_timeout_s=_floored(30 / scale, 5),
        )


def _floored(seconds: float, floor: int) -> int:
    return max(floor, round(seconds))


@dataclass(frozen=True, slots=True)
class DayPlan:
    scale: float
    profile: str
    seed: int
    calls: tuple[DayCall, ...]
    patience_s: tuple[float, ...]  # the buckets, scaled
    operators: tuple[str, ...]
    operator_mix: OperatorMix  # scaled
    patient_mix: OperatorMix  # patients' phones answering callbacks, scaled
    timers: ScaledTimers

    @property
    def length_s(self) -> float:
        """The opening hours, scaled."""
        return len(PROFILES[self.profile]) * 3600 / self.scale


def generate_day(
    calls: int = 1600,
    *,
    profile: str = "monday",
    seed: int = 16,
    scale: float = 60.0,
    operators: int = OPERATORS,
) -> DayPlan:
    """The day's calls in time order: arrivals a Poisson process whose rate follows the
    profile's hours (given the total: each call's hour drawn by weight, its minute
    uniform), callers known or unknown, their key and their patience."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    if calls < 1 or not 0 < scale < math.inf or not 1 <= operators <= MAX_OPERATORS:
        raise ValueError(f"calls >= 1, a finite scale > 0 and 1..{MAX_OPERATORS} operators")
    rnd = random.Random(seed)
    weights = PROFILES[profile]
    starts = sorted(
        (rnd.choices(range(len(weights)), weights)[0] + rnd.random()) * 3600 / scale
        for _ in range(calls)
    )
    keys, key_weights = list(MENU_CHOICES), list(MENU_CHOICES.values())
    day = []
    for n, at in enumerate(starts):
        caller: Caller = "known" if rnd.random() < KNOWN_SHARE else "unknown"
        key = rnd.choices(keys, key_weights)[0] if caller != "known" else ""
        patience = rnd.randrange(PATIENCE_BUCKETS) if rnd.random() < IMPATIENT_SHARE else FOREVER
        day.append(DayCall(round(at, 3), caller_number(caller, n), caller, key, patience))
    return DayPlan(
        scale=scale,
        profile=profile,
        seed=seed,
        calls=tuple(day),
        patience_s=tuple(
            s / scale for s in exponential_quantiles(PATIENCE_MEAN_S, PATIENCE_BUCKETS)
        ),
        operators=tuple(f"lop{n:03d}" for n in range(1, operators + 1)),
        operator_mix=operator_mix(scale),
        patient_mix=OperatorMix(
            answer_delay_s={
                PATIENT_ANSWER_S / scale: 1 - PATIENT_NO_ANSWER_SHARE,
                NEVER_S: PATIENT_NO_ANSWER_SHARE,
            },
            hold_s={PATIENT_TALK_S / scale: 1.0},
        ),
        timers=ScaledTimers.for_scale(scale),
    )


def caller_number(caller: Caller, n: int) -> str:
    """A distinct number per call (the known ones are imported as patients)."""
    return f"{'7916' if caller == 'known' else '7999'}8{n:06d}"


def exponential_quantiles(mean: float, buckets: int) -> list[float]:
    """The midpoints (by probability) of `buckets` equally likely slices."""
    return [-mean * math.log(1 - (i + 0.5) / buckets) for i in range(buckets)]


def lognormal_quantiles(median: float, sigma: float, buckets: int) -> list[float]:
    from statistics import NormalDist

    unit = NormalDist()
    return [median * math.exp(sigma * unit.inv_cdf((i + 0.5) / buckets)) for i in range(buckets)]


def operator_mix(scale: float) -> OperatorMix:
    """Answer delays (with the ring-outs) and talk times of the day's operators, scaled."""
    answer = {s / scale: w * (1 - RING_OUT_SHARE) for s, w in ANSWER_DELAY_S.items()}
    answer[NEVER_S] = RING_OUT_SHARE
    talks = lognormal_quantiles(TALK_MEDIAN_S, TALK_SIGMA, TALK_BUCKETS)
    return OperatorMix(answer_delay_s=answer, hold_s={t / scale: 1.0 for t in talks})


def injection_csv(plan: DayPlan) -> str:
    """SIPp's -inf file: from; DID; arrival (ms after SIPp's start); key (-1: none);
    patience bucket."""
    lines = ["SEQUENTIAL"]
    for call in plan.calls:
        key = call.key or "-1"
        lines.append(f"{call.number};{ROUTER_DID};{round(call.at_s * 1000)};{key};{call.patience};")
    return "\n".join(lines) + "\n"


def patients_csv(plan: DayPlan) -> str:
    """The known callers, for `clinic-router patients import`."""
    rows = ["patient_id,name,phones"]
    rows += [
        f"D{c.number},Day patient {c.number},+{c.number}" for c in plan.calls if c.caller == "known"
    ]
    return "\n".join(rows) + "\n"


def day_rules(plan: DayPlan) -> str:
    """The day's rules: one line for the network; known patients straight to paid
    services, the others a menu (1 paid, 2 results, 9 call me back); both queues served
    by every operator; every miss with a number becomes a callback task."""
    t = plan.timers
    lines = ["format: 1", "skills:", "  paid: Paid services", "  results: Test results"]
    lines.append("operators:")
    for op in plan.operators:
        lines += [
            f"  - id: {op}",
            f"    name: Day operator {op}",
            f"    endpoint: PJSIP/{op}",
            "    team: day",
            "    skills: {paid: 3, results: 3}",
        ]
    lines += [
        "lines:",
        "  - id: network",
        f'    numbers: ["{ROUTER_DID}", "+{ROUTER_DID}"]',
        "    routes: day",
        "routes:",
        "  day:",
        "    - {name: known, when: {caller: known}, then: {queue: paid}}",
        "    - {name: others, then: {menu: main}}",
        "menus:",
        "  main:",
        "    prompt: beep",  # Asterisk's own short sound: a spoken menu cannot be scaled
        f"    timeout_s: {t.menu_timeout_s}",
        "    retries: 0",
        '    default: "1"',
        "    options:",
        '      - {key: "1", label: Paid services, then: {queue: paid}}',
        '      - {key: "2", label: Test results, then: {queue: results}}',
        '      - {key: "9", label: Call me back, then: {callback: {}}}',
        "queues:",
    ]
    for queue, skill in (("paid", "paid"), ("results", "results")):
        lines += [
            f"  {queue}:",
            f"    max_wait_s: {t.max_wait_s}",
            f"    steps: [{{after_s: 0, skills: [{skill}]}}]",
        ]
    retry = ", ".join(str(m) for m in t.retry_after_min)
    lines += [
        "callback:",
        "  min_abandon_s: 0",
        f"  retry_after_min: [{retry}]",
        f"  max_attempts: {len(t.retry_after_min)}",
    ]
    return "\n".join(lines) + "\n"


def day_settings(plan: DayPlan) -> str:
    """The router.yaml sections beyond the harness's own: callbacks on, scaled.

    The whisper (the prompts an operator hears before the patient is dialled, ~2 s of
    speech) cannot be scaled: an operator of the scaled day talks for a second or two and
    would hang up during it, an interrupted attempt that is retried at once. The day turns
    it off: no prompts, no digits, and a reason prompt prefix no sound has (Asterisk ends
    such a playback at once).
    """
    return (
        "callbacks:\n"
        "  enabled: true\n"
        f"  patient_ring_timeout_s: {plan.timers.patient_ring_timeout_s}\n"
        "  poll_s: 0.5\n"
        "  whisper: []\n"
        "  whisper_digits: 0\n"
        "  reason_prompt_prefix: day-no-such-prompt-\n"
    )
