"""SLO alerts on a real store seeded with known values: the numbers, the log lines, the gauges and the banner."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from analytics.prometheus import ReplyMetrics
from analytics.slo import SloMonitor, SloThresholds
from storage.store import Store
from tests.support.seeds import NOW, seed
from ui.analytics_render import slo_banner

DAY_S = 86400.0


@pytest.fixture
def store(store: Store) -> Store:
    """The store, seeded with ``tests/support/seeds.py``."""
    seed(store)
    return store


def test_breaches_are_measured_logged_once_and_exported(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    monitor = SloMonitor(store.engine, SloThresholds(ttft_p95_ms=3000, error_rate=0.05, window_s=DAY_S, min_replies=1))
    metrics = ReplyMetrics(streams_active=lambda: 0)
    metrics.watch_slos(monitor)
    with caplog.at_level(logging.INFO, logger="analytics.slo"):
        state = monitor.check(NOW)
        monitor.check(NOW)
    values = {slo.name: slo.value for slo in state.slos}
    assert state.replies == 6
    assert values["ttft_p95_ms"] == pytest.approx(4960)  # p95 of 100, 200, 400, 800, 6000
    assert values["error_rate"] == pytest.approx(1 / 6)
    assert [slo.name for slo in state.breaches] == ["ttft_p95_ms", "error_rate"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "SLO breached: Time to first token p95 is 4.96 s over the last 1440 min (threshold 3 s).",
        "SLO breached: Error rate is 16.7% over the last 1440 min (threshold 5%).",
    ]
    text = metrics.exposition().decode()
    assert 'chatlens_slo_breached{slo="error_rate"} 1.0' in text
    found = re.search(r'chatlens_slo_value\{slo="ttft_p95_ms"\} ([0-9.e+]+)\n', text)
    assert found is not None and float(found.group(1)) == pytest.approx(4960)
    assert 'chatlens_slo_threshold{slo="error_rate"} 0.05' in text
    banner = slo_banner(state, DAY_S)
    assert 'role="alert"' in banner and "Error rate is 16.7%" in banner


def test_a_recovered_slo_clears_and_a_thin_window_judges_nothing(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = SloMonitor(store.engine, SloThresholds(ttft_p95_ms=3000, error_rate=0.05, window_s=DAY_S, min_replies=1))
    monitor.check(NOW)
    monitor.thresholds = SloThresholds(ttft_p95_ms=10_000, error_rate=0.5, window_s=DAY_S, min_replies=1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="analytics.slo"):
        assert monitor.check(NOW).breaches == []
    assert {r.getMessage() for r in caplog.records} == {
        "SLO back within threshold: ttft_p95_ms",
        "SLO back within threshold: error_rate",
    }
    assert slo_banner(monitor.state, DAY_S) == ""
    thin = SloMonitor(store.engine, SloThresholds(ttft_p95_ms=1, error_rate=0, window_s=DAY_S, min_replies=7))
    assert thin.check(NOW).breaches == [] and all(slo.value is None for slo in thin.state.slos)
    empty = SloMonitor(store.engine, SloThresholds(window_s=60, min_replies=1)).check(NOW + timedelta(days=30))
    assert empty.replies == 0 and empty.breaches == []
