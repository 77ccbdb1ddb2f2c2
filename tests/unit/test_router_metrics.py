"""The benchmark's reading of /metrics: quantiles from histogram buckets, windows."""

from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest

from router.http.metrics import EngineFigures, RouterMetrics
from sip_test_harness.router_metrics import bucket_quantile, parse_metrics


def test_quantile_is_the_bound_of_the_bucket_holding_it() -> None:
    # 100 observations: 90 under 1 ms, 9 in (1, 2] ms, 1 in (2, 5] ms
    buckets = {0.001: 90.0, 0.002: 99.0, 0.005: 100.0, math.inf: 100.0}
    assert bucket_quantile(buckets, 0.5) == 0.001
    assert bucket_quantile(buckets, 0.9) == 0.001
    assert bucket_quantile(buckets, 0.99) == 0.002
    assert bucket_quantile(buckets, 1.0) == 0.005


def test_quantile_beyond_the_last_bound_and_when_empty() -> None:
    assert bucket_quantile({0.001: 0.0, 0.002: 0.0, math.inf: 3.0}, 0.99) == math.inf
    assert bucket_quantile({0.001: 0.0, math.inf: 0.0}, 0.99) is None
    assert bucket_quantile({}, 0.5) is None
    with pytest.raises(ValueError):
        bucket_quantile({math.inf: 1.0}, 0.0)


def test_a_window_between_two_scrapes_of_the_router_registry() -> None:
    metrics = RouterMetrics(EngineFigures(lambda: 7, lambda: 9, lambda: 11))
    for _ in range(50):
        metrics.loop_lag.observe(0.0004)
    first = parse_metrics(generate_latest(metrics.registry).decode())
    for lag in [0.0004] * 97 + [0.012, 0.018, 0.3]:
        metrics.loop_lag.observe(lag)
    second = parse_metrics(generate_latest(metrics.registry).decode())
    window = second.lag.minus(first.lag)
    assert window.count == 100
    assert window.quantile_ms(0.5) == 1.0
    assert window.quantile_ms(0.98) == 15.0
    assert window.quantile_ms(0.99) == 20.0
    assert window.quantile_ms(1.0) == 500.0
    assert window.mean_ms == pytest.approx((97 * 0.4 + 12 + 18 + 300) / 100)
    assert second.value("clinic_router_waiting_callers") == 7
    assert second.value("clinic_router_calls_started_total") == 11
