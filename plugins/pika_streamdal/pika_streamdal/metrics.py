"""In-process metrics: the counters and histograms of the specification, with a snapshot API.

Exporters (``pika_streamdal.exporters``) read the registry or listen to it; this module imports
nothing optional.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable, Dict, NamedTuple, Tuple

__all__ = ["BUCKETS", "COUNTERS", "HISTOGRAMS", "MetricsRegistry", "MetricsSnapshot", "Sample"]

COUNTERS = (
    "messages_total",
    "bytes_total",
    "modified_total",
    "dropped_total",
    "errors_total",
    "sampled_total",
    "notify_total",
    "tail_dropped_total",
    "oversize_total",
    "observe_dropped_total",
)
HISTOGRAMS = ("step_duration_seconds", "pipeline_duration_seconds")

#: Histogram bucket upper bounds, in seconds.
BUCKETS: tuple[float, ...] = (
    0.00001,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

Labels = Tuple[Tuple[str, str], ...]
Listener = Callable[[str, str, Dict[str, str], float], None]


class Sample(NamedTuple):
    """One counter series, or one histogram series (``observations``, ``value`` = sum, cumulative ``buckets``)."""

    name: str
    labels: dict[str, str]
    value: float
    observations: int = 0
    buckets: tuple[int, ...] = ()


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0
        self.total = 0


class MetricsSnapshot:
    """A copy of every series at one moment."""

    def __init__(self, counters: list[Sample], histograms: list[Sample]) -> None:
        self.counters = counters
        self.histograms = histograms

    def value(self, name: str, **labels: str) -> float:
        """The sum of counter ``name`` over the series whose labels include ``labels``."""
        return sum(s.value for s in self.counters if s.name == name and _includes(s.labels, labels))

    def count(self, name: str, **labels: str) -> int:
        """How many observations histogram ``name`` holds over the matching series."""
        return sum(
            s.observations
            for s in self.histograms
            if s.name == name and _includes(s.labels, labels)
        )

    def as_dict(self) -> dict[str, list[dict[str, object]]]:
        """A JSON-ready form."""
        return {
            "counters": [
                {"name": s.name, "labels": s.labels, "value": s.value} for s in self.counters
            ],
            "histograms": [
                {"name": s.name, "labels": s.labels, "sum": s.value, "count": s.observations}
                for s in self.histograms
            ],
        }


def _includes(have: dict[str, str], want: dict[str, str]) -> bool:
    return all(have.get(key) == value for key, value in want.items())


class MetricsRegistry:
    """Counters and histograms keyed by (name, labels); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(kind, name, labels, value)`` on every update (kind: counter/histogram)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def inc(self, name: str, labels: Labels, value: float = 1.0) -> None:
        """Add ``value`` to a counter."""
        key = (name, labels)
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + value
        if self._listeners:
            self._notify("counter", name, labels, value)

    def observe(self, name: str, labels: Labels, seconds: float) -> None:
        """Record one duration in a histogram."""
        key = (name, labels)
        with self._lock:
            histogram = self._histograms.get(key)
            if histogram is None:
                histogram = self._histograms[key] = _Histogram()
            histogram.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            histogram.sum += seconds
            histogram.total += 1
        if self._listeners:
            self._notify("histogram", name, labels, seconds)

    def _notify(self, kind: str, name: str, labels: Labels, value: float) -> None:
        as_dict = dict(labels)
        for listener in list(self._listeners):
            try:
                listener(kind, name, as_dict, value)
            except Exception:
                import logging

                logging.getLogger("pika_streamdal").exception("metrics listener failed")

    def snapshot(self, name: str | None = None) -> MetricsSnapshot:
        """A copy of every series (or of one metric's)."""
        with self._lock:
            counters = [
                Sample(key[0], dict(key[1]), value)
                for key, value in self._counters.items()
                if name is None or key[0] == name
            ]
            histograms = []
            for key, hist in self._histograms.items():
                if name is not None and key[0] != name:
                    continue
                cumulative: list[int] = []
                running = 0
                for count in hist.counts:
                    running += count
                    cumulative.append(running)
                histograms.append(
                    Sample(key[0], dict(key[1]), hist.sum, hist.total, tuple(cumulative))
                )
        return MetricsSnapshot(counters, histograms)
