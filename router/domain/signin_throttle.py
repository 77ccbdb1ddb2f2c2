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
    """`begin(address, user)` before checking a password, `succeeded(...)` after a match.

    `begin` checks and counts in one step, with no await between: a check takes tens of
    milliseconds off the event loop, and sign-ins sent all at once would otherwise each
    see "no failures yet" and all be checked. The attempt counts as failed until
    `succeeded` takes it back.
    """

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

    def begin(self, address: str, user: str) -> float:
        """Seconds to wait (refused, nothing counted), or 0: go ahead, counted as failed."""
        wait = self.retry_after(address, user)
        if wait <= 0:
            self.failed(address, user)
        return wait

    def begun_failed(self, address: str, user: str) -> None:
        """The attempt `begin` counted failed: it stays counted, dated now, so the delay
        runs from when the failure was known, not from when the check began."""
        now = self._clock()
        for key in (("addr", address), (address, user.casefold())):
            times = self._failures.get(key)
            if times:
                times[-1] = max(times[-1], now)

    def failed(self, address: str, user: str) -> None:
        now = self._clock()
        for key in (("addr", address), (address, user.casefold())):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # most recent last: the oldest key goes first
        while len(self._failures) > self._limits.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, address: str, user: str) -> None:
        """The password matched: the name's failures are forgiven, and the address's
        count loses the attempt `begin` counted."""
        self._failures.pop((address, user.casefold()), None)
        times = self._failures.get(("addr", address))
        if times:
            times.pop()

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
