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
  θ: the chance to be answered within t is the transient probability of that small chain,
  computed by uniformization (Poisson-weighted steps of the embedded chain).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

TAIL = 1e-12  # states whose probability falls below this are left out
MAX_AGENTS = 2000


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
    mu, theta = 1 / aht_s, 1 / patience_s
    weights = _stationary(agents, rate_per_s, mu, theta)
    total = math.fsum(weights)
    probs = [w / total for w in weights]
    below = math.fsum(probs[:agents])
    queued = probs[agents:]  # an arrival finding N + j in the system has j ahead
    answered = _answered_within(agents, mu, theta, len(queued), target_s)
    level = below + math.fsum(p * a for p, a in zip(queued, answered, strict=True))
    gone = math.fsum(p * j * theta for j, p in enumerate(queued)) / rate_per_s
    return Service(agents, level, 1 - below, gone)


def _stationary(agents: int, lam: float, mu: float, theta: float) -> list[float]:
    # Unnormalised, scaled so the largest term is about 1 (no overflow for big loads).
    logs = [0.0]
    k = 0
    while True:
        k += 1
        death = k * mu if k <= agents else agents * mu + (k - agents) * theta
        logs.append(logs[-1] + math.log(lam / death))
        if k > agents and logs[-1] - max(logs) < math.log(TAIL):
            break
    top = max(logs)
    return [math.exp(x - top) for x in logs]


def _answered_within(agents: int, mu: float, theta: float, states: int, t: float) -> list[float]:
    """For j = 0..states-1 others ahead: P(reach an operator within t before giving up)."""
    if t <= 0:
        return [0.0] * states
    advance = [agents * mu + i * theta for i in range(states)]
    rate = max(advance) + theta  # uniformization constant
    stay = [1 - (a + theta) / rate for a in advance]
    move = [a / rate for a in advance]
    u = [0.0] * states  # u[j]: answered within n steps, starting with j ahead
    result = [0.0] * states
    mean_steps = rate * t
    last = math.ceil(
        mean_steps + 12 * math.sqrt(mean_steps) + 30
    )  # the Poisson tail beyond: < 1e-12
    for n in range(1, last + 1):
        u = [move[j] * (u[j - 1] if j else 1.0) + stay[j] * u[j] for j in range(states)]
        # Poisson(n; rate·t) in logs: exp(-rate·t) alone underflows for long targets.
        weight = math.exp(n * math.log(mean_steps) - mean_steps - math.lgamma(n + 1))
        for j in range(states):
            result[j] += weight * u[j]
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
