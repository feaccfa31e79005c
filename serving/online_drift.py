"""Drift of the rows the service answers, and the `model.drift.detected` event the batch path emits.

Requests only append their checked rows to a bounded queue (no measuring, no I/O on the request path). A worker
thread feeds them to the batch path's `DriftAccumulator` (against the served version's `drift_reference.json`),
measures a window every `every_rows` rows or `every_seconds` seconds (with at least `min_rows` rows), and when the
window drifted, queues `mlops_pipeline.batch.drift_event(...)` - the same event `batch-infer` emits, so the
retraining triggers on `mlops.model.<name>` fire. Delivery failures (Prefect API down) are logged and retried
every `retry_seconds`; undelivered events are kept up to `max_pending_events`. A champion swap starts a new window
against the new version's reference.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from mlops_pipeline.batch import drift_event
from mlops_pipeline.drift import DriftAccumulator, shares_by_column

from .config import OnlineDriftConfig
from .model import ServedModel

logger = logging.getLogger("serving.drift")
SOURCE = "online: prediction service /predict"


class EventSink(Protocol):
    def send(self, event: dict[str, Any]) -> None:
        """Deliver one event (emit_event keyword arguments plus `id` and `occurred`); raise if it was not."""


class PrefectEventSink:
    """POSTs events to the Prefect API (`/api/events`) with Prefect's client, so success means the server has it.

    The settings (PREFECT_API_URL, key, auth) are those of the context the sink was made in, whichever thread
    sends.
    """

    def __init__(self) -> None:
        self._context = contextvars.copy_context()

    def send(self, event: dict[str, Any]) -> None:
        self._context.copy().run(self._send, event)

    @staticmethod
    def _send(event: dict[str, Any]) -> None:
        from prefect.client.orchestration import get_client
        from prefect.events import Event

        body = Event(**event).model_dump(mode="json")
        with get_client(sync_client=True) as client:
            client.request("POST", "/events", json=[body])


class LogEventSink:
    """No Prefect API configured: drift events are logged, not sent."""

    def send(self, event: dict[str, Any]) -> None:
        logger.warning("drift event (no PREFECT_API_URL set, not sent): %s %s", event["event"], event["payload"])


def default_sink() -> EventSink:
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PrefectEventSink()
    logger.warning(
        "PREFECT_API_URL is not set: online drift is measured and logged, but no event reaches a "
        "Prefect server (set it to let drift start the retraining deployments)"
    )
    return LogEventSink()


@dataclass
class _Window:
    version: str
    accumulator: DriftAccumulator
    opened: float


@dataclass(frozen=True)
class DriftStatus:
    rows_seen: int
    window_rows: int
    windows_measured: int
    drift_windows: int
    events_sent: int
    events_pending: int
    send_failures: int
    rows_not_measured: int
    last_error: str | None
    last_report: dict[str, Any] | None


class OnlineDrift:
    def __init__(self, config: OnlineDriftConfig, sink: EventSink | None, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.sink = sink
        self.clock = clock
        self._queue: collections.deque[tuple[ServedModel, np.ndarray]] = collections.deque()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window: _Window | None = None
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=config.max_pending_events)
        self._next_send = 0.0
        self.rows_seen = self.windows_measured = self.drift_windows = 0
        self.events_sent = self.send_failures = self.rows_not_measured = 0
        self.last_error: str | None = None
        self.last_report: dict[str, Any] | None = None
        self.ticks = 0
        self._model_name = ""
        self._last_event_at: dict[str, float] = {}

    # ---- the request path: O(1), never raises ------------------------------------------------------------------
    def observe(self, model: ServedModel, X: np.ndarray) -> None:
        if model.drift_reference is None:
            return
        with self._lock:
            if self._queued_rows + X.shape[0] > self.config.max_pending_rows:
                self.rows_not_measured += X.shape[0]
                return
            self._queue.append((model, X))
            self._queued_rows += X.shape[0]
        if self._queued_rows >= self.config.every_rows:
            self._wake.set()

    # ---- the worker ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Measure what came in, close a window that is due, try to deliver queued events. One worker iteration."""
        with self._lock:
            batches, self._queue, self._queued_rows = list(self._queue), collections.deque(), 0
        # one accumulator update per run of same-version batches, not one per request (1-row requests)
        while batches:
            model = batches[0][0]
            run = 0
            while run < len(batches) and batches[run][0].version == model.version:
                run += 1
            self._add(model, np.concatenate([X for _, X in batches[:run]]))
            batches = batches[run:]
        window = self._window
        if window is not None and self._due(window):
            self._measure(window)
        self._deliver()
        self.ticks += 1

    def _add(self, model: ServedModel, X: np.ndarray) -> None:
        window = self._window
        if window is None or window.version != model.version:  # first rows, or the champion changed
            if window is not None and window.accumulator.n_rows:
                logger.info(
                    "champion changed to %s: %d rows of %s's drift window not measured",
                    model.version,
                    window.accumulator.n_rows,
                    window.version,
                )
            assert model.drift_reference is not None  # observe() queues only models that have one
            accumulator = DriftAccumulator(model.drift_reference, sample_rows=self.config.sample_rows)
            window = self._window = _Window(model.version, accumulator, self.clock())
            self._model_name = model.name
        window.accumulator.add(X)
        self.rows_seen += X.shape[0]

    def _due(self, window: _Window) -> bool:
        rows = window.accumulator.n_rows
        return rows >= self.config.every_rows or (
            rows >= self.config.min_rows and self.clock() - window.opened >= self.config.every_seconds
        )

    def _measure(self, window: _Window) -> None:
        config = self.config
        report = window.accumulator.report(config.psi_threshold, config.ks_alpha, config.min_drifted_share)
        self._window = _Window(
            window.version, DriftAccumulator(window.accumulator.reference, config.sample_rows), self.clock()
        )
        self.windows_measured += 1
        self.last_report = {
            "version": window.version,
            "rows": report.n_rows,
            "drift": report.drift_detected,
            "drifted_features": len(report.drifted_features),
            "features": len(report.features),
            "max_psi": round(report.max_psi, 4),
            **shares_by_column(report),
        }
        if not report.drift_detected:
            logger.info("online drift: none in %d rows (max PSI %.3f)", report.n_rows, report.max_psi)
            return
        self.drift_windows += 1
        logger.warning(
            "online drift DETECTED in %d rows served by %s: %d of %d features",
            report.n_rows,
            window.version,
            len(report.drifted_features),
            len(report.features),
        )
        if config.emit_event and self.sink is not None:
            since = self.clock() - self._last_event_at.get(window.version, -np.inf)
            if since < config.event_cooldown_seconds:  # one retraining trigger per cool-down, not one per window
                logger.info(
                    "drift event for %s not emitted: the last one was %.0f s ago (cool-down %g s)",
                    window.version,
                    since,
                    config.event_cooldown_seconds,
                )
                return
            self._last_event_at[window.version] = self.clock()
            event = drift_event(self._model_name, window.version, SOURCE, report)
            if len(self._events) == self._events.maxlen:
                logger.error("dropping the oldest undelivered drift event (%d kept)", self._events.maxlen)
            self._events.append({**event, "id": uuid.uuid4(), "occurred": datetime.now(UTC)})
            self._next_send = 0.0

    def _deliver(self) -> None:
        if not self._events or self.sink is None or self.clock() < self._next_send:
            return
        while self._events:
            event = self._events[0]
            try:
                self.sink.send(event)
            except Exception as exc:  # the API is down or refused: keep it, try again later
                self.send_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._next_send = self.clock() + self.config.retry_seconds
                logger.warning(
                    "could not send %s (%d pending), retrying in %g s: %s",
                    event["event"],
                    len(self._events),
                    self.config.retry_seconds,
                    self.last_error,
                )
                return
            self._events.popleft()
            self.events_sent += 1
            self.last_error = None
            logger.warning("emitted %s for %s %s", event["event"], self._model_name, event["payload"]["version"])

    def status(self) -> DriftStatus:
        window = self._window
        return DriftStatus(
            self.rows_seen,
            window.accumulator.n_rows if window else 0,
            self.windows_measured,
            self.drift_windows,
            self.events_sent,
            len(self._events),
            self.send_failures,
            self.rows_not_measured,
            self.last_error,
            self.last_report,
        )

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="online-drift", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        interval = min(1.0, self.config.every_seconds, self.config.retry_seconds)
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # the worker must outlive any one bad batch
                logger.exception("online drift: tick failed")
