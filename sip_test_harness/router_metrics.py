"""Reading a router's ``GET /metrics``: gauges, and the event-loop lag histogram over a window.

A Prometheus histogram holds cumulative counts per upper bound (``le``); the difference
of two scrapes is the histogram of the window between them. A quantile read from it is
the upper bound of the bucket it falls in: its resolution is the bucket width (1 ms up
to 2 ms, then 5, 10, 15, 20, 30, 50, 75, 100 ms, ...; see ``router.http.metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from router.http.metrics import LOOP_LAG
from sip_test_harness.errors import HarnessError


@dataclass(frozen=True)
class LagHistogram:
    """Event-loop lag observations: cumulative counts by upper bound (seconds)."""

    buckets: Mapping[float, float] = field(default_factory=dict)
    count: float = 0.0
    sum_s: float = 0.0

    def minus(self, earlier: LagHistogram) -> LagHistogram:
        """The observations made after ``earlier`` (a scrape of the same process)."""
        return LagHistogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.count - earlier.count,
            self.sum_s - earlier.sum_s,
        )

    def quantile_ms(self, q: float) -> float | None:
        """Upper bound (ms) of the bucket holding the ``q`` quantile; None when empty."""
        bound = bucket_quantile(self.buckets, q)
        return None if bound is None else bound * 1000

    @property
    def mean_ms(self) -> float | None:
        return self.sum_s / self.count * 1000 if self.count > 0 else None


def bucket_quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The smallest upper bound whose cumulative count reaches ``q`` of all observations
    (nearest rank); ``inf`` when it is beyond the last finite bound; None when empty."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return None
    rank = math.ceil(q * total - 1e-9)
    return next((le for le, count in ordered if count >= rank), math.inf)


@dataclass(frozen=True)
class Scrape:
    """One scrape of ``/metrics``: plain samples by name, and the lag histogram."""

    samples: Mapping[str, float]
    lag: LagHistogram

    def value(self, name: str) -> float:
        try:
            return self.samples[name]
        except KeyError:
            raise HarnessError(f"the router's /metrics has no {name}") from None


def parse_metrics(text: str) -> Scrape:
    """Samples without labels by name; the lag histogram's buckets by ``le``."""
    samples: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{LOOP_LAG}_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            elif not sample.labels:
                samples[sample.name] = sample.value
    lag = LagHistogram(
        buckets, samples.get(f"{LOOP_LAG}_count", 0.0), samples.get(f"{LOOP_LAG}_sum", 0.0)
    )
    return Scrape(samples, lag)


async def scrape(session: aiohttp.ClientSession, base_url: str, token: str) -> Scrape:
    """``GET {base_url}/metrics`` with the API token (a starved router may take seconds)."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with session.get(f"{base_url}/metrics", headers=headers, timeout=timeout) as resp:
        if resp.status != 200:
            raise HarnessError(f"GET {base_url}/metrics answered {resp.status}")
        return parse_metrics(await resp.text())
