"""Tracing with the OpenTelemetry SDK's in-memory exporter: one trace from publish to delivery."""

from __future__ import annotations

import pytest

from pika_core import hooks
from pika_core.plugins import PikaPluginManager
from pika_core.spec import Basic

pytest.importorskip("opentelemetry.sdk", reason="the otel test needs opentelemetry-sdk")

import pika_streamdal
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from pika_streamdal.parameters import ConnectionParameters
from pika_streamdal.tracing import TracingInterceptor


class Conn:
    def __init__(self, params: object) -> None:
        self.params = params


class Chan:
    def __init__(self, connection: Conn) -> None:
        self.connection = connection
        self.channel_number = 1

    def basic_publish(self) -> None:
        raise NotImplementedError


def test_one_trace_spans_publish_and_delivery(pika_plugin_manager: PikaPluginManager) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = TracingInterceptor(provider, server_address="127.0.0.1", server_port=5672)
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    connection = Conn(ConnectionParameters(interceptors=[tracing]))
    hooks.connection_opened(connection, pika_plugin_manager)
    channel = Chan(connection)
    hooks.channel_opened(channel, pika_plugin_manager)
    message_hooks = hooks.MessageHooks.for_channel(channel, pika_plugin_manager)
    assert message_hooks is not None

    published = message_hooks.before_publish("orders", "eu.created", b"{}", None, False)
    headers = published.properties.headers
    assert "traceparent" in headers
    pika_streamdal.set_consumer(channel, "ctag", "orders.q")
    delivered = message_hooks.on_delivery(
        Basic.Deliver("ctag", 5, False, "orders", "eu.created"), published.properties, b"{}"
    )
    assert not delivered.dropped

    producer, consumer = exporter.get_finished_spans()
    assert producer.kind == SpanKind.PRODUCER and consumer.kind == SpanKind.CONSUMER
    assert producer.context.trace_id == consumer.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert producer.name == "publish orders" and consumer.name == "process orders.q"
    assert producer.attributes["messaging.system"] == "rabbitmq"
    assert producer.attributes["messaging.destination.name"] == "orders"
    assert producer.attributes["messaging.rabbitmq.destination.routing_key"] == "eu.created"
    assert producer.attributes["server.port"] == 5672
    assert consumer.attributes["messaging.rabbitmq.message.delivery_tag"] == 5
    assert consumer.attributes["messaging.operation.type"] == "process"
