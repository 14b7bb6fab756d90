"""Tracing with the OpenTelemetry SDK's in-memory exporter: one trace from publish to delivery."""

from __future__ import annotations

import time

import pika_streamdal
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from pika_streamdal.parameters import ConnectionParameters
from pika_streamdal.tracing import TracingInterceptor

from pika_core import hooks
from pika_core.plugins import PikaPluginManager
from pika_core.spec import Basic


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
    # The consumer span covers the application's processing: it ends after the callback.
    assert [span.kind for span in exporter.get_finished_spans()] == [SpanKind.PRODUCER]
    message_hooks.after_delivery(delivered, None)

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


def _traced_channel(
    pika_plugin_manager: PikaPluginManager,
) -> tuple[InMemorySpanExporter, hooks.MessageHooks, Chan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    connection = Conn(ConnectionParameters(interceptors=[TracingInterceptor(provider)]))
    hooks.connection_opened(connection, pika_plugin_manager)
    channel = Chan(connection)
    hooks.channel_opened(channel, pika_plugin_manager)
    message_hooks = hooks.MessageHooks.for_channel(channel, pika_plugin_manager)
    assert message_hooks is not None
    return exporter, message_hooks, channel


def test_consumer_span_covers_the_callback_and_records_its_exception(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    exporter, message_hooks, _channel = _traced_channel(pika_plugin_manager)
    method = Basic.Deliver("ctag", 9, False, "orders", "eu.created")
    delivered = message_hooks.on_delivery(method, None, b"{}", "orders.q", "basic_consume")
    time.sleep(0.05)  # the application's processing
    message_hooks.on_settle(9, False, "nack", True)
    failure = ValueError("could not process")
    message_hooks.after_message(
        method, None, b"{}", "orders.q", "basic_consume", hooks.NO_OPTIONS, failure
    )

    (span,) = exporter.get_finished_spans()
    assert span.kind == SpanKind.CONSUMER and span.name == "process orders.q"
    assert span.end_time - span.start_time >= 50_000_000  # ns: it covers the processing
    assert span.status.status_code == StatusCode.ERROR
    (exception_event,) = [e for e in span.events if e.name == "exception"]
    assert exception_event.attributes["exception.type"] == "ValueError"
    assert exception_event.attributes["exception.message"] == "could not process"
    (settle,) = [e for e in span.events if e.name == "settle"]
    assert settle.attributes["messaging.rabbitmq.settle.action"] == "nack"
    assert settle.attributes["messaging.rabbitmq.settle.requeue"] is True
    assert delivered.method is method


def test_basic_get_span_ends_at_once_and_a_closed_channel_ends_held_spans(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    exporter, message_hooks, channel = _traced_channel(pika_plugin_manager)
    get_ok = Basic.GetOk(1, False, "", "orders.q", 0)
    message_hooks.on_delivery(get_ok, None, b"{}", "orders.q", "basic_get")
    assert [span.name for span in exporter.get_finished_spans()] == ["receive orders.q"]
    message_hooks.on_delivery(
        Basic.Deliver("ctag", 2, False, "", "orders.q"), None, b"{}", "orders.q", "consume"
    )
    assert len(exporter.get_finished_spans()) == 1  # held while the application processes
    hooks.channel_closed(channel, RuntimeError("closed"), pika_plugin_manager)
    held = exporter.get_finished_spans()[1]
    assert held.name == "process orders.q"
    assert held.attributes["pipeline.abandoned"] == "channel closed"
    assert held.status.status_code == StatusCode.UNSET
