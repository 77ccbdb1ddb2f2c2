"""How late the event loop runs what is due: the router's own responsiveness probe.

Every call, ARI event and API request of the router shares one event loop; anything that
holds it (a slow synchronous step, a burst of events, the CPU taken by Asterisk on the
same cores) delays all of them at once. The probe sleeps a fixed interval and records by
how much the wake-up came late. Idle, the lag is below a millisecond (epoll waits in
whole milliseconds); a lag of tens of milliseconds means every call waits that long
for its next step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 0.1


class LoopLagProbe:
    """Sleeps `interval_s` in a loop and reports each overshoot (seconds) to `observe`."""

    def __init__(
        self,
        observe: Callable[[float], None],
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"the probe interval must be positive, got {interval_s}")
        self.observe = observe
        self.interval_s = interval_s
        self.clock = clock

    async def run(self) -> None:
        """Probe until cancelled."""
        while True:
            began = self.clock()
            await asyncio.sleep(self.interval_s)
            # asyncio may run a timer up to its clock resolution early: never negative
            self.observe(max(0.0, self.clock() - began - self.interval_s))
