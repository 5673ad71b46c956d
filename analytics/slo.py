"""SLO alerts: TTFT p95 and error rate over a sliding window, checked against configurable thresholds.

Invariants:
* One portable query per check over ``generations`` in [now - window, now); a window with fewer than
  ``min_replies`` replies breaches nothing (too few to judge).
* A breach shows three ways: ``SloMonitor.state`` (the tab's banner), one log warning when it starts (and an info
  line when it ends), and Prometheus gauges set by the caller from ``state``.
* ``run_every`` checks on its own daemon thread, off the event loop; ``check`` may also be called directly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SloThresholds:
    ttft_p95_ms: float = 3000.0
    error_rate: float = 0.05
    window_s: float = 900.0
    min_replies: int = 20


@dataclass(frozen=True, slots=True)
class Slo:
    name: str  # "ttft_p95_ms" or "error_rate"
    value: float | None
    threshold: float

    @property
    def breached(self) -> bool:
        return self.value is not None and self.value > self.threshold

    def sentence(self, window_s: float) -> str:
        minutes = f"{window_s / 60:g} min"
        value = self.value if self.value is not None else float("nan")
        if self.name == "ttft_p95_ms":
            return (
                f"Time to first token p95 is {value / 1000:.2f} s over the last {minutes} "
                f"(threshold {self.threshold / 1000:g} s)."
            )
        return f"Error rate is {value:.1%} over the last {minutes} (threshold {self.threshold:.0%})."


@dataclass(frozen=True, slots=True)
class SloState:
    checked_at: datetime | None = None
    replies: int = 0
    slos: tuple[Slo, ...] = field(default_factory=tuple)

    @property
    def breaches(self) -> list[Slo]:
        return [slo for slo in self.slos if slo.breached]


SQL = """
    SELECT count(*) AS replies, count(*) FILTER (WHERE status = 'error') AS errors,
           CAST(percentile_cont(0.95) WITHIN GROUP (ORDER BY time_to_first_token_ms) AS double precision) AS p95
    FROM generations WHERE created_at >= :start AND created_at < :end"""


class SloMonitor:
    def __init__(self, engine: Engine, thresholds: SloThresholds) -> None:
        self._engine = engine
        self.thresholds = thresholds
        self.state = SloState()
        self._stop = threading.Event()

    def check(self, now: datetime | None = None) -> SloState:
        now = now or datetime.now(UTC)
        t = self.thresholds
        with self._engine.connect() as connection:
            replies, errors, p95 = connection.execute(
                text(SQL), {"start": now - timedelta(seconds=t.window_s), "end": now}
            ).one()
        judged = replies >= t.min_replies
        state = SloState(
            checked_at=now,
            replies=int(replies),
            slos=(
                Slo("ttft_p95_ms", float(p95) if judged and p95 is not None else None, t.ttft_p95_ms),
                Slo("error_rate", errors / replies if judged else None, t.error_rate),
            ),
        )
        self._log_changes(self.state, state)
        self.state = state
        return state

    def _log_changes(self, before: SloState, after: SloState) -> None:
        was = {slo.name for slo in before.breaches}
        for slo in after.slos:
            if slo.breached and slo.name not in was:
                log.warning("SLO breached: %s", slo.sentence(self.thresholds.window_s))
            elif not slo.breached and slo.name in was:
                log.info("SLO back within threshold: %s", slo.name)

    def run_every(self, interval_s: float) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.check()
                except Exception:
                    log.exception("SLO check failed")

        thread = threading.Thread(target=loop, name="chatlens-slo", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
