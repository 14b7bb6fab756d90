"""Interceptors' on_settle and after_deliver, reached through the core's settle and
after-delivery hooks."""

from __future__ import annotations

import time
from typing import Any

import pika_streamdal
import pytest
from pika_streamdal.context import DROP, PASS, MessageContext, Verdict
from pika_streamdal.interceptors import Interceptor
from pika_streamdal.parameters import ConnectionParameters

from pika_core import hooks
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.parameters import ConnectionParameters as CoreParameters
from pika_core.plugins import PikaPluginManager
from pika_core.spec import Basic


class Conn:
    def __init__(self, params: object) -> None:
        self.params = params


class Chan:
    def __init__(self, connection: Conn) -> None:
        self.connection = connection
        self.channel_number = 3


class Recording(Interceptor):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_deliver(self, ctx: MessageContext) -> Verdict:
        self.calls.append(("deliver", ctx.delivery_tag))
        return DROP("unwanted") if ctx.body == b"drop" else PASS

    def on_settle(self, ctx: MessageContext, action: str) -> None:
        self.calls.append(
            ("settle", ctx.channel_number, ctx.delivery_tag, action, dict(ctx.metadata))
        )

    def after_deliver(self, ctx: MessageContext, exception: BaseException | None) -> None:
        self.calls.append(("after", ctx.delivery_tag, ctx.queue, exception))


def _channel(pm: PikaPluginManager, interceptor: Interceptor) -> tuple[hooks.MessageHooks, Chan]:
    pm.register(pika_streamdal, name="streamdal")
    connection = Conn(ConnectionParameters(interceptors=[interceptor]))
    hooks.connection_opened(connection, pm)
    channel = Chan(connection)
    hooks.channel_opened(channel, pm)
    message_hooks = hooks.MessageHooks.for_channel(channel, pm)
    assert message_hooks is not None
    return message_hooks, channel


def test_on_settle_reaches_the_interceptor(pika_plugin_manager: PikaPluginManager) -> None:
    recording = Recording()
    message_hooks, _chan = _channel(pika_plugin_manager, recording)
    message_hooks.on_settle(4, True, "ack", False)
    message_hooks.on_settle(5, False, "reject", True)
    assert recording.calls == [
        ("settle", 3, 4, "ack", {"multiple": "true", "requeue": "false"}),
        ("settle", 3, 5, "reject", {"multiple": "false", "requeue": "true"}),
    ]


def test_after_deliver_gets_the_on_deliver_context_and_the_exception(
    pika_plugin_manager: PikaPluginManager,
) -> None:
    recording = Recording()
    message_hooks, _chan = _channel(pika_plugin_manager, recording)
    method = Basic.Deliver("ctag", 7, False, "", "q")
    message_hooks.on_delivery(method, None, b"keep", "q", "basic_consume")
    failure = RuntimeError("app")
    message_hooks.after_message(
        method, None, b"keep", "q", "basic_consume", hooks.NO_OPTIONS, failure
    )
    message_hooks.after_message(method, None, b"keep", "q", "basic_consume", hooks.NO_OPTIONS, None)
    dropped = message_hooks.on_delivery(
        Basic.Deliver("ctag", 8, False, "", "q"), None, b"drop", "q"
    )
    assert dropped.dropped
    assert recording.calls == [
        ("deliver", 7),
        ("after", 7, "q", failure),  # once: the second call finds nothing in flight
        ("deliver", 8),
        ("after", 8, "q", None),  # a dropped delivery's processing ends at once
    ]


@pytest.mark.broker
def test_blocking_consumer_spans_and_settles_against_the_broker() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode
    from pika_streamdal.tracing import TracingInterceptor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recording = Recording()
    params = CoreParameters("127.0.0.1", interceptors=[recording, TracingInterceptor(provider)])
    failure = ValueError("processing failed")
    with BlockingConnection(params) as connection:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish("", queue, b"first")
        channel.basic_publish("", queue, b"second")
        seen: list[bytes] = []

        def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
            seen.append(body)
            if body == b"first":
                time.sleep(0.05)
                ch.basic_ack(method.delivery_tag)
            else:
                ch.basic_reject(method.delivery_tag, requeue=False)
                raise failure

        channel.basic_consume(queue, on_message)
        with pytest.raises(ValueError):
            while len(seen) < 2:
                connection.process_data_events(1)
    consumers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    by_tag = {s.attributes["messaging.rabbitmq.message.delivery_tag"]: s for s in consumers}
    first, second = by_tag[1], by_tag[2]
    assert first.end_time - first.start_time >= 50_000_000
    assert first.status.status_code == StatusCode.UNSET
    assert [e.attributes["messaging.rabbitmq.settle.action"] for e in first.events] == ["ack"]
    assert second.status.status_code == StatusCode.ERROR
    assert [e.name for e in second.events] == ["settle", "exception"]
    settles = [c[:4] for c in recording.calls if c[0] == "settle"]
    assert settles == [("settle", 1, 1, "ack"), ("settle", 1, 2, "reject")]
    afters = [c for c in recording.calls if c[0] == "after"]
    assert afters == [("after", 1, queue, None), ("after", 2, queue, failure)]
