"""How long the period's callers were willing to wait, for the replay.

A caller who gave up while waiting or ringing shows their patience; one who was served
(or sent on by the rules) shows only that it was longer than their wait. The
Kaplan-Meier estimator takes both kinds as they are (the served as censored
observations), without assuming a shape: the usual estimator of callers' patience in
call-centre statistics (Brown et al., "Statistical analysis of a telephone call
center", JASA 2005). A served caller's patience is then drawn from the estimate above
what they waited.

An exponential draw of the mean (Erlang A's assumption) was used before. It was wrong where
it mattered: callers whose patience is much the same (a sandbox run's callers hang up a
fixed time after the greeting) got draws from a fraction of a second to many times the
mean, so replayed served callers gave up much sooner or much later than any did. The
exponential remains for the tail the period did not see: patience beyond its longest
observed one.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Patience:
    """The Kaplan-Meier estimate: `survival[i]` is the share of callers whose patience
    lasts beyond `times[i]` (the distinct times at which someone gave up, ascending)."""

    times: tuple[float, ...] = ()
    survival: tuple[float, ...] = ()
    mean_s: float | None = None  # waited over gave up (Erlang A's estimate), for the tail

    def beyond(self, waited_s: float, rnd: random.Random) -> float:
        """A patience longer than `waited_s`, drawn from the estimate given that it is."""
        if self.mean_s is None:
            return math.inf  # nobody gave up: nothing says anyone would
        first = bisect_right(self.times, waited_s)
        base = self.survival[first - 1] if first else 1.0
        if base <= 0.0:  # everyone this patient gave up by then: the next moment, at most
            return waited_s
        target = rnd.random() * base
        for t, s in zip(self.times[first:], self.survival[first:], strict=True):
            if s <= target:
                return t
        # Beyond the longest patience seen: memoryless, with the period's mean.
        return max(waited_s, self.times[-1] if self.times else 0.0) + rnd.expovariate(
            1 / self.mean_s
        )


def estimate(observations: Iterable[tuple[float, bool]]) -> Patience:
    """Kaplan-Meier over (seconds waited, gave up) pairs. A caller served at the moment
    another gave up counts as still at risk then (the usual convention for ties)."""
    seen = sorted(observations)
    gave_up = Counter(t for t, event in seen if event)
    if not gave_up:
        return Patience()
    times: list[float] = []
    survival: list[float] = []
    left = 1.0
    waited = [t for t, _ in seen]
    for t in sorted(gave_up):
        at_risk = len(waited) - bisect_left(waited, t)
        left *= 1 - gave_up[t] / at_risk
        times.append(t)
        survival.append(left)
    mean = sum(waited) / sum(gave_up.values())
    return Patience(tuple(times), tuple(survival), mean)
