"""The metrics exporters, against prometheus_client's registry and the OTel SDK's metric reader."""

from __future__ import annotations

import pytest
from pika_streamdal.metrics import COUNTERS, HISTOGRAMS, MetricsRegistry

LABELS = (("service", "svc"), ("operation_name", "orders"), ("status", "true"))


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.inc("messages_total", LABELS, 3)
    registry.inc("bytes_total", LABELS, 1024)
    registry.observe("pipeline_duration_seconds", LABELS, 0.002)
    registry.observe("pipeline_duration_seconds", LABELS, 0.3)
    return registry


def test_prometheus_collector_exposes_counters_and_histograms() -> None:
    from pika_streamdal.exporters import PrometheusCollector
    from prometheus_client import CollectorRegistry, generate_latest

    registry = _registry()
    prometheus = CollectorRegistry()
    prometheus.register(PrometheusCollector(registry, namespace="sd"))
    labels = {
        "service": "svc",
        "component": "",
        "operation_type": "",
        "operation_name": "orders",
        "pipeline": "",
        "step": "",
        "status": "true",
    }
    assert prometheus.get_sample_value("sd_messages_total", labels) == 3.0
    assert prometheus.get_sample_value("sd_bytes_total", labels) == 1024.0
    hist = "sd_pipeline_duration_seconds"
    assert prometheus.get_sample_value(f"{hist}_count", labels) == 2.0
    assert prometheus.get_sample_value(f"{hist}_sum", labels) == pytest.approx(0.302)
    assert prometheus.get_sample_value(f"{hist}_bucket", {**labels, "le": "0.0025"}) == 1.0
    assert prometheus.get_sample_value(f"{hist}_bucket", {**labels, "le": "0.25"}) == 1.0
    assert prometheus.get_sample_value(f"{hist}_bucket", {**labels, "le": "0.5"}) == 2.0
    assert prometheus.get_sample_value(f"{hist}_bucket", {**labels, "le": "+Inf"}) == 2.0
    text = generate_latest(prometheus).decode()
    for name in COUNTERS:  # every family is declared, even without samples
        assert f"# HELP sd_{name} pika-streamdal {name}\n" in text
    for name in HISTOGRAMS:
        assert f"# TYPE sd_{name} histogram" in text
    # A later update is seen on the next scrape.
    registry.inc("messages_total", LABELS)
    assert prometheus.get_sample_value("sd_messages_total", labels) == 4.0


def test_otel_exporter_mirrors_updates_until_closed() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from pika_streamdal.exporters import OTelMetricsExporter

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    registry = MetricsRegistry()
    exporter = OTelMetricsExporter(registry, meter_provider=provider, prefix="sd.")
    registry.inc("messages_total", LABELS, 2)
    registry.inc("dropped_total", LABELS)
    registry.observe("step_duration_seconds", LABELS, 0.01)

    def points() -> dict[str, object]:
        data = reader.get_metrics_data()
        found: dict[str, object] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    (point,) = metric.data.data_points
                    found[metric.name] = point
        return found

    first = points()
    messages = first["sd.messages_total"]
    assert messages.value == 2  # type: ignore[attr-defined]
    assert dict(messages.attributes) == dict(LABELS)  # type: ignore[attr-defined]
    assert first["sd.dropped_total"].value == 1  # type: ignore[attr-defined]
    step = first["sd.step_duration_seconds"]
    assert step.count == 1 and step.sum == pytest.approx(0.01)  # type: ignore[attr-defined]
    exporter.close()
    registry.inc("messages_total", LABELS, 5)
    assert points()["sd.messages_total"].value == 2  # type: ignore[attr-defined]
