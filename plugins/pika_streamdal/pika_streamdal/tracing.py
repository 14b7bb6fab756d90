"""Tracing (extra ``[otel]``): PRODUCER and CONSUMER spans with the messaging semantic conventions.

The producer span's context is injected into the message headers (W3C ``traceparent``) and the
consumer span continues it, so one trace runs from the publisher to the consumer. OpenTelemetry
is imported when a TracingInterceptor is created, never at module import.

Place the TracingInterceptor after pipeline interceptors to record their outcome
(``ctx.metadata``) on the span. A consumer span of ``basic_consume`` or ``consume()`` stays open
while the application processes the message and ends in ``after_deliver`` (the core's
pika_after_delivery), with the callback's exception recorded; settles (``on_settle``) become
span events. basic_get and returned messages get a span that ends at once. The consumer span is
not made the current span during the callback: deliveries are intercepted ahead of their
callbacks, so attaching contexts would not nest.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from pika_streamdal.context import PASS, MessageContext, Verdict
from pika_streamdal.interceptors import Interceptor

__all__ = ["TracingInterceptor"]

SpanHook = Callable[[Any, MessageContext], None]


def _require_otel() -> Any:
    try:
        # Imported by name: opentelemetry is a namespace package mypy cannot see into here.
        propagate = importlib.import_module("opentelemetry.propagate")
        trace = importlib.import_module("opentelemetry.trace")
    except ImportError:
        raise ImportError(
            "TracingInterceptor needs OpenTelemetry: pip install 'pika-streamdal[otel]'",
            name="opentelemetry",
        ) from None
    return trace, propagate


class TracingInterceptor(Interceptor):
    """Emits a span per publish and per delivery; propagates the trace in message headers."""

    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        publish_hook: SpanHook | None = None,
        consume_hook: SpanHook | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> None:
        trace, propagate = _require_otel()
        from pika_streamdal import __version__

        self._trace = trace
        self._propagate = propagate
        self._tracer = trace.get_tracer(
            "pika_streamdal", __version__, tracer_provider=tracer_provider
        )
        self.publish_hook = publish_hook
        self.consume_hook = consume_hook
        self.server_address = server_address
        self.server_port = server_port
        #: Consumer spans waiting for the application: id(ctx) -> (ctx, span).
        self._open: dict[int, tuple[MessageContext, Any]] = {}

    def _attributes(self, ctx: MessageContext, operation_type: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "messaging.system": "rabbitmq",
            "messaging.destination.name": ctx.exchange or "amq.default",
            "messaging.rabbitmq.destination.routing_key": ctx.routing_key,
            "messaging.operation.type": operation_type,
            "messaging.operation.name": ctx.api,
        }
        properties = ctx.properties
        message_id = getattr(properties, "message_id", None)
        if message_id:
            attributes["messaging.message.id"] = str(message_id)
        correlation_id = getattr(properties, "correlation_id", None)
        if correlation_id:
            attributes["messaging.message.conversation_id"] = str(correlation_id)
        if ctx.delivery_tag is not None:
            attributes["messaging.rabbitmq.message.delivery_tag"] = int(ctx.delivery_tag)
        if ctx.consumer_tag:
            attributes["messaging.consumer.group.name"] = ctx.consumer_tag
        if self.server_address:
            attributes["server.address"] = self.server_address
        if self.server_port:
            attributes["server.port"] = int(self.server_port)
        if ctx.body is not None:
            attributes["messaging.message.body.size"] = len(ctx.body)
        return attributes

    def _outcome(self, span: Any, ctx: MessageContext) -> None:
        for key, value in ctx.metadata.items():
            span.set_attribute(f"pipeline.metadata.{key}", value)

    def on_publish(self, ctx: MessageContext) -> Verdict:
        """A PRODUCER span; its context goes into the headers."""
        trace = self._trace
        name = f"publish {ctx.exchange or 'amq.default'}"
        with self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.PRODUCER, attributes=self._attributes(ctx, "send")
        ) as span:
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier)
            for key, value in carrier.items():
                ctx.set_header(key, value)
            self._outcome(span, ctx)
            if self.publish_hook is not None:
                self.publish_hook(span, ctx)
        return PASS

    def on_deliver(self, ctx: MessageContext) -> Verdict:
        """A CONSUMER span continuing the producer's trace from the headers."""
        trace = self._trace
        carrier = {
            str(key): value.decode() if isinstance(value, bytes) else str(value)
            for key, value in ctx.headers.items()
            if isinstance(value, (str, bytes))
        }
        parent = self._propagate.extract(carrier)
        operation = "receive" if ctx.api == "basic_get" else "process"
        destination = ctx.queue or ctx.routing_key or ctx.exchange or "amq.default"
        span = self._tracer.start_span(
            f"{operation} {destination}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes=self._attributes(ctx, operation),
        )
        held = False
        try:
            self._outcome(span, ctx)
            if ctx.api == "return":
                span.set_attribute("pipeline.returned", True)
            if self.consume_hook is not None:
                self.consume_hook(span, ctx)
            if ctx.api == "basic_consume" or ctx.api == "consume":
                self._open[id(ctx)] = (ctx, span)
                held = True
        finally:
            if not held:
                span.end()
        return PASS

    def on_settle(self, ctx: MessageContext, action: str) -> None:
        """A ``settle`` event on the open consumer spans the ack/nack/reject covers."""
        tag = ctx.delivery_tag or 0
        multiple = ctx.metadata.get("multiple") == "true"
        attributes = {
            "messaging.rabbitmq.settle.action": action,
            "messaging.rabbitmq.settle.requeue": ctx.metadata.get("requeue") == "true",
            "messaging.rabbitmq.settle.multiple": multiple,
        }
        for held, span in list(self._open.values()):
            held_tag = held.delivery_tag or 0
            if held.channel_number != ctx.channel_number:
                continue
            if held_tag == tag or (multiple and (tag == 0 or held_tag <= tag)):
                span.add_event("settle", attributes)

    def after_deliver(self, ctx: MessageContext, exception: BaseException | None) -> None:
        """End the consumer span: the application is done (its exception is recorded)."""
        entry = self._open.pop(id(ctx), None)
        if entry is None or entry[0] is not ctx:
            return
        span = entry[1]
        try:
            abandoned = ctx.metadata.get("abandoned")
            if abandoned:
                span.set_attribute("pipeline.abandoned", abandoned)
            if exception is not None:
                span.record_exception(exception)
                trace = self._trace
                span.set_status(trace.Status(trace.StatusCode.ERROR, repr(exception)))
        finally:
            span.end()
