"""Metrics exporters: Prometheus (extra ``[prometheus]``) and OpenTelemetry metrics (extra ``[otel]``).

Both import their library when created, never at module import.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator

from pika_streamdal.metrics import BUCKETS, COUNTERS, HISTOGRAMS, MetricsRegistry

__all__ = ["OTelMetricsExporter", "PrometheusCollector"]

_LABELS = ("service", "component", "operation_type", "operation_name", "pipeline", "step", "status")


class PrometheusCollector:
    """A prometheus_client collector over an engine's registry: ``REGISTRY.register(c)``."""

    def __init__(self, registry: MetricsRegistry, namespace: str = "pika_streamdal") -> None:
        try:
            from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        except ImportError:
            raise ImportError(
                "PrometheusCollector needs prometheus_client: pip install "
                "'pika-streamdal[prometheus]'",
                name="prometheus_client",
            ) from None
        self._counter = CounterMetricFamily
        self._histogram = HistogramMetricFamily
        self.registry = registry
        self.namespace = namespace

    def collect(self) -> Iterator[Any]:
        """Yield one family per metric (prometheus_client calls this on scrape)."""
        snapshot = self.registry.snapshot()
        for name in COUNTERS:
            # prometheus_client appends _total to counters itself.
            family = self._counter(
                f"{self.namespace}_{name[: -len('_total')]}",
                f"pika-streamdal {name}",
                labels=_LABELS,
            )
            for sample in snapshot.counters:
                if sample.name == name:
                    family.add_metric([sample.labels.get(k, "") for k in _LABELS], sample.value)
            yield family
        for name in HISTOGRAMS:
            hist = self._histogram(
                f"{self.namespace}_{name}", f"pika-streamdal {name}", labels=_LABELS
            )
            for sample in snapshot.histograms:
                if sample.name != name:
                    continue
                bounds: list[str] = [repr(bound) for bound in BUCKETS] + ["+Inf"]
                hist.add_metric(
                    [sample.labels.get(k, "") for k in _LABELS],
                    list(zip(bounds, [float(c) for c in sample.buckets])),
                    sample.value,
                )
            yield hist


class OTelMetricsExporter:
    """Mirror every registry update into OpenTelemetry counters and histograms."""

    def __init__(
        self, registry: MetricsRegistry, meter_provider: Any = None, prefix: str = "pika_streamdal."
    ) -> None:
        try:
            metrics = importlib.import_module("opentelemetry.metrics")
        except ImportError:
            raise ImportError(
                "OTelMetricsExporter needs OpenTelemetry: pip install 'pika-streamdal[otel]'",
                name="opentelemetry",
            ) from None
        meter = metrics.get_meter("pika_streamdal", meter_provider=meter_provider)
        self._instruments: dict[str, Any] = {}
        for name in COUNTERS:
            self._instruments[name] = meter.create_counter(prefix + name)
        for name in HISTOGRAMS:
            self._instruments[name] = meter.create_histogram(prefix + name, unit="s")
        self.registry = registry
        registry.add_listener(self._on_update)

    def _on_update(self, kind: str, name: str, labels: dict[str, str], value: float) -> None:
        instrument = self._instruments.get(name)
        if instrument is None:
            return
        if kind == "counter":
            instrument.add(value, labels)
        else:
            instrument.record(value, labels)

    def close(self) -> None:
        """Stop mirroring."""
        self.registry.remove_listener(self._on_update)
