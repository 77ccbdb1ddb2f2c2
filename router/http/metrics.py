"""`GET /metrics`: the router's figures in Prometheus text format.

Each HTTP app has its own registry (never prometheus_client's global one), so several
routers or test apps in one process do not share figures. The event-loop lag probe runs
for as long as the app does (`cleanup_ctx`); the engine's figures are read at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from router.engine.recorder import FAILED, FULL, Kind, WriteHealth
from router.http.health import StorageState
from router.observability.loop_lag import DEFAULT_INTERVAL_S, LoopLagProbe

log = logging.getLogger(__name__)

LOOP_LAG = "clinic_router_event_loop_lag_seconds"
WAITING = "clinic_router_waiting_callers"
LIVE_CALLS = "clinic_router_live_calls"
CALLS_STARTED = "clinic_router_calls_started"  # exposed as ..._total
EVENTS_DROPPED = "clinic_router_call_events_dropped"  # ..._total{event}
BACKLOG = "clinic_router_journal_backlog"
BACKLOG_MAX = "clinic_router_journal_backlog_max"
DROPPED = "clinic_router_journal_dropped"  # ..._total{kind, reason}
WRITE_FAILURES = "clinic_router_database_write_failures"  # ..._total
FAILING = "clinic_router_database_consecutive_write_failures"
LAST_WRITE = "clinic_router_database_last_write_timestamp_seconds"
STORING = "clinic_router_database_storing"
FILE_OK = "clinic_router_database_file_ok"
# Seconds; fine up to the 20 ms a caller should never wait for the loop, coarse above.
LAG_BUCKETS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075)
LAG_BUCKETS += (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, float("inf"))


@dataclass(frozen=True)
class EngineFigures:
    """What the engine can tell at any moment, read at each scrape."""

    waiting: Callable[[], int]  # callers waiting for an operator (the waiting room)
    live_calls: Callable[[], int]  # calls the engine owns now
    calls_started: Callable[[], int]  # inbound calls taken since start (adopted ones too)
    # ARI events a call's full queue could not take, by event type
    events_dropped: Callable[[], Mapping[str, int]] = field(default=lambda: {})


@dataclass(frozen=True)
class StorageFigures:
    """Whether what the router records reaches the database, read at each scrape."""

    writes: Callable[[], WriteHealth]  # the journal writer
    file_problem: Callable[[], str | None]  # the SQLite file is not the one opened


class _EngineCollector:
    def __init__(self, figures: EngineFigures) -> None:
        self.figures = figures

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        waiting, live, started, dropped = self._families()
        waiting.add_metric([], self.figures.waiting())
        live.add_metric([], self.figures.live_calls())
        started.add_metric([], self.figures.calls_started())
        for event, count in sorted(self.figures.events_dropped().items()):
            dropped.add_metric([event], count)
        return [waiting, live, started, dropped]

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily
    ]:
        return (
            GaugeMetricFamily(WAITING, "Callers waiting for an operator now."),
            GaugeMetricFamily(LIVE_CALLS, "Inbound calls the router is handling now."),
            CounterMetricFamily(CALLS_STARTED, "Inbound calls taken since the router started."),
            CounterMetricFamily(
                EVENTS_DROPPED,
                "ARI events dropped because a call's event queue was full.",
                labels=["event"],
            ),
        )


class _StorageCollector:
    def __init__(self, figures: StorageFigures) -> None:
        self.figures = figures

    def describe(self) -> Iterable[Metric]:
        return self.collect()  # reading the figures has no side effect

    def collect(self) -> Iterable[Metric]:
        writes = self.figures.writes()
        file_ok = self.figures.file_problem() is None
        dropped = CounterMetricFamily(
            DROPPED,
            "Journal records dropped: backlog_full (at the bound) or write_failed (a write "
            "that can never succeed).",
            labels=["kind", "reason"],
        )
        for kind in Kind:  # every series from the start, so increase() sees the first drop
            for why in (FULL, FAILED):
                dropped.add_metric([kind.value, why], writes.dropped.get((kind, why), 0))
        # a scrape does not ping the database: /health does
        storing = StorageState(True, self.figures.file_problem(), writes).storing
        return [
            GaugeMetricFamily(
                BACKLOG, "Journal records held, waiting to be written.", writes.backlog
            ),
            GaugeMetricFamily(BACKLOG_MAX, "The bound of the backlog.", writes.backlog_max),
            dropped,
            CounterMetricFamily(WRITE_FAILURES, "Failed database writes.", writes.failures),
            GaugeMetricFamily(
                FAILING, "Database writes failed in a row now.", writes.consecutive_failures
            ),
            GaugeMetricFamily(
                LAST_WRITE,
                "Unix time of the last write that landed (0: none).",
                writes.last_write_at or 0.0,
            ),
            GaugeMetricFamily(
                STORING,
                "1 while writes land; 0 while they fail or stall, or the file is gone.",
                float(storing),
            ),
            GaugeMetricFamily(
                FILE_OK, "0 while the SQLite file is not the one opened.", float(file_ok)
            ),
        ]


class RouterMetrics:
    """The registry behind `/metrics` and the probe that feeds its lag histogram."""

    def __init__(
        self,
        engine: EngineFigures | None = None,
        probe_interval_s: float = DEFAULT_INTERVAL_S,
        storage: StorageFigures | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.loop_lag = Histogram(
            LOOP_LAG,
            f"How late the event loop woke a {probe_interval_s:g} s sleep (seconds).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, RSS, open fds
        if engine is not None:
            self.registry.register(_EngineCollector(engine))
        if storage is not None:
            self.registry.register(_StorageCollector(storage))
        self.probe = LoopLagProbe(self.loop_lag.observe, probe_interval_s)

    async def probing(self, app: web.Application) -> AsyncIterator[None]:
        """`cleanup_ctx`: the probe runs from the app's startup to its cleanup."""
        del app
        task = asyncio.create_task(self.probe.run(), name="event loop lag probe")
        yield
        task.cancel()
        # gather lets our own cancellation through and hands back the probe's
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(outcome, Exception):
            log.error("the event loop lag probe had failed", exc_info=outcome)


METRICS = web.AppKey("metrics", RouterMetrics)


def add_metrics_route(app: web.Application, metrics: RouterMetrics) -> None:
    """`GET /metrics` (the token middleware guards it) and the probe's lifetime."""
    app[METRICS] = metrics
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.cleanup_ctx.append(metrics.probing)
