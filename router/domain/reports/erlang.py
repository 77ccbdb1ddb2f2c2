"""Erlang C and Erlang A: how many operators a service-level goal needs.

Written out rather than taken from a package: pyworkforce (MIT) has Erlang C only and
pulls in pandas and OR-Tools (hundreds of MB) for one formula; the formulas are short
and the tests check them against hand-computed values and against each other.

- Erlang C (M/M/N): callers wait for ever. `A = λ·AHT` erlangs; Erlang B by the stable
  recursion, C from B; the waiting time beyond 0 is exponential with rate `(N - A)/AHT`.
- Erlang A (M/M/N+M, Palm): callers give up after an exponential patience (mean
  `patience_s`). The stationary distribution of the birth-death chain (death rate
  `kμ` up to N, `Nμ + (k - N)θ` above) is summed until its terms vanish. A caller who
  finds j others waiting moves up at rate `Nμ + iθ` with i ahead, and gives up at rate
  θ: they are answered within t when the j + 1 steps (rates `Nμ + iθ`, i = j..0) end
  within t and before their own patience. In closed form, with a = Nμ:
  `a / (a + (j+1)θ) · P(T ≤ t)`, T the sum of exponentials of rates `a + θ(i+1)`: T is
  `-ln(B)/θ` for B ~ Beta(a/θ + 1, j + 1) (Rényi's order statistics), so
  `P(T ≤ t) = P(NegBin(a/θ + 1, 1 - e^(-θt)) ≥ j + 1)`, summed over j in one pass.

  Its cost grows with the states the queue reaches: about λ/θ, the arrivals in one mean
  patience, when overloaded. The sum stops at `MAX_STATES` waiting callers: a chain
  still rising or not yet vanishing there holds thousands of callers ahead, far more
  than reach an operator within any target, so it is taken at its fluid limit (none
  within the target; the excess over Nμ gives up). Patience is at least
  `MIN_PATIENCE_S`. No input costs more than about 50 ms a call (the exact sum at
  λ·patience = 10,000 takes about 15 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

TAIL = 1e-12  # states whose probability falls below this are left out
MAX_AGENTS = 2000
MIN_PATIENCE_S = 0.1  # below it 1/patience overflows; everyone waiting gives up anyway
MAX_STATES = 30_000  # waiting callers summed (see the docstring)


@dataclass(frozen=True, slots=True)
class Service:
    """What a number of operators achieves against the offered traffic."""

    agents: int
    service_level: float  # share of all callers answered within the target
    wait_probability: float  # share of callers who wait at all
    abandon: float  # share who give up (0 for Erlang C)


def erlang_b(agents: int, load: float) -> float:
    b = 1.0
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(agents: int, load: float, aht_s: float, target_s: float) -> Service:
    """Erlang C for `load` erlangs; with `agents <= load` the queue grows without end."""
    if load <= 0:
        return Service(agents, 1.0, 0.0, 0.0)
    if agents <= load:
        return Service(agents, 0.0, 1.0, 0.0)
    b = erlang_b(agents, load)
    wait = agents * b / (agents - load * (1 - b))
    level = 1 - wait * math.exp(-(agents - load) * target_s / aht_s)
    return Service(agents, level, wait, 0.0)


def erlang_a(
    agents: int, rate_per_s: float, aht_s: float, patience_s: float, target_s: float
) -> Service:
    """Erlang A. `rate_per_s`: arrivals per second; `patience_s`: mean patience."""
    if rate_per_s <= 0:
        return Service(agents, 1.0, 0.0, 0.0)
    mu, theta = 1 / aht_s, 1 / max(patience_s, MIN_PATIENCE_S)
    weights = _stationary(agents, rate_per_s, mu, theta)
    if weights is None:  # fluid: all operators busy, the rest of the arrivals give up
        return Service(agents, 0.0, 1.0, max(0.0, 1 - agents * mu / rate_per_s))
    total = math.fsum(weights)
    probs = [w / total for w in weights]
    below = math.fsum(probs[:agents])
    queued = probs[agents:]  # an arrival finding N + j in the system has j ahead
    answered = _answered_within(agents * mu, theta, len(queued), target_s)
    level = below + math.fsum(p * a for p, a in zip(queued, answered, strict=True))
    gone = math.fsum(p * j * theta for j, p in enumerate(queued)) / rate_per_s
    return Service(agents, level, 1 - below, gone)


def _stationary(agents: int, lam: float, mu: float, theta: float) -> list[float] | None:
    # Unnormalised, scaled so the largest term is about 1 (no overflow for big loads).
    # None: the terms have not vanished `MAX_STATES` callers deep.
    logs = [0.0]
    top = 0.0
    for k in range(1, agents + MAX_STATES + 1):
        death = k * mu if k <= agents else agents * mu + (k - agents) * theta
        logs.append(logs[-1] + math.log(lam / death))
        top = max(top, logs[-1])
        if k > agents and logs[-1] - top < math.log(TAIL):
            return [math.exp(x - top) for x in logs]
    return None


def _answered_within(served: float, theta: float, states: int, t: float) -> list[float]:
    """For j = 0..states-1 others ahead: P(reach an operator within t before giving up),
    `served` = Nμ (the closed form in the module's docstring)."""
    if t <= 0 or states == 0:
        return [0.0] * states
    c = served / theta + 1  # NegBin(c, y) with y = 1 - e^(-θt)
    log_y = math.log(-math.expm1(-theta * t))
    log_pmf = -c * theta * t  # ln P(NegBin = 0) = c·ln(e^(-θt)), never underflowing
    below = 0.0  # P(NegBin < j + 1)
    result = []
    for j in range(states):
        below += math.exp(log_pmf)
        log_pmf += log_y + math.log((j + c) / (j + 1))
        within = max(0.0, 1.0 - below)
        result.append(served / (served + (j + 1) * theta) * within)
    return result


def agents_needed(
    goal: float, level_of: Callable[[int], Service], start: int, upper: int | None = None
) -> Service | None:
    """The fewest agents from `start` up whose service level reaches `goal`. With `upper`
    (a number known to reach it) by bisection: the level never falls as agents are added."""
    if upper is not None:
        low, high = max(1, start), upper
        best = level_of(high)
        while low < high:
            mid = (low + high) // 2
            service = level_of(mid)
            if service.service_level >= goal:
                high, best = mid, service
            else:
                low = mid + 1
        return best if best.agents == low else level_of(low)
    for n in range(max(1, start), MAX_AGENTS + 1):
        service = level_of(n)
        if service.service_level >= goal:
            return service
    return None
