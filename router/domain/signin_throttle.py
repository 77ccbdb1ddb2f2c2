"""Failed sign-ins slow the next ones down (pure; the clock is injected).

Counted per (address, user name) and per address: a password guesser on one name is
stopped after `per_user` failures a minute, one spraying many names after `per_address`,
while a colleague signing in from another desk is never locked out by someone else's typing.
Past the limit, sign-ins from that key are refused unchecked for a delay that doubles
with every further failure (up to `max_delay_s`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    per_user: int = 5
    per_address: int = 20
    window_s: float = 60.0
    base_delay_s: float = 2.0
    max_delay_s: float = 60.0
    max_keys: int = 10_000  # bounds memory under a flood of made-up names


class SigninThrottle:
    """`retry_after(address, user)` before checking a password; `failed(...)` after a miss."""

    def __init__(self, clock: Callable[[], float], limits: ThrottleLimits | None = None) -> None:
        self._clock = clock
        self._limits = limits or ThrottleLimits()
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def retry_after(self, address: str, user: str) -> float:
        """Seconds until a sign-in from `address` as `user` is checked again; 0 = now."""
        now = self._clock()
        lim = self._limits
        waits = [
            self._wait(("addr", address), lim.per_address, now),
            self._wait((address, user.casefold()), lim.per_user, now),
        ]
        return max(waits)

    def failed(self, address: str, user: str) -> None:
        now = self._clock()
        for key in (("addr", address), (address, user.casefold())):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # most recent last: the oldest key goes first
        while len(self._failures) > self._limits.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, user: str) -> None:
        self._failures.pop((address, user.casefold()), None)

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        lim = self._limits
        while times and now - times[0] > lim.window_s:
            times.popleft()
        if len(times) < limit:
            return 0.0
        over = len(times) - limit
        delay = min(lim.base_delay_s * 2.0**over, lim.max_delay_s)
        return max(0.0, times[-1] + delay - now)
