"""Acceptance tests of section 5.5 against the real broker, over the blocking adapter."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import pika_streamdal
import pytest
from pika_streamdal import (
    DROP,
    Interceptor,
    InterceptorError,
    MessageContext,
    MessageDropped,
    Verdict,
)
from pika_streamdal.engine import Engine
from pika_streamdal.parameters import ConnectionParameters
from pika_streamdal.pipeline import Cond, Pipeline, Step

from pika_core import exceptions
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.plugins import PikaPluginManager

pytestmark = pytest.mark.broker

EMAIL = {"email": "someone@example.com", "card": "4111 1111 1111 1111", "n": 1}


def mask_engine() -> Engine:
    engine = Engine()
    engine.set_pipelines(
        "*",
        [
            Pipeline(
                "mask",
                "mask",
                (
                    Step("find", "detect", {"type": "pii_any"}),
                    Step("mask", "transform", {"type": "mask"}, dynamic=True),
                ),
            )
        ],
    )
    return engine


def schema_drop_engine() -> Engine:
    engine = Engine()
    step = Step(
        "v",
        "validate",
        {"type": "json_schema", "schema": {"type": "object", "required": ["id"]}},
        on_false=Cond(drop=True),
    )
    engine.set_pipelines("*", [Pipeline("schema", "schema", (step,))])
    return engine


def masked(body: bytes) -> bool:
    text = body.decode()
    return "someone@" not in text and "4111 1111 1111 1111" not in text


@pytest.fixture
def streamdal(pika_plugin_manager: PikaPluginManager) -> PikaPluginManager:
    pika_plugin_manager.register(pika_streamdal, name="streamdal")
    return pika_plugin_manager


@pytest.fixture
def plain() -> Iterator[Any]:
    """A connection without interceptors, to see what the broker really holds."""
    connection = BlockingConnection(ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.confirm_delivery()  # its publishes are routed before the next line runs
    yield channel
    if connection.is_open:
        connection.close()


def queue_name(prefix: str) -> str:
    return f"{prefix}.streamdal.{uuid.uuid4().hex[:8]}"


def connect(**options: Any) -> BlockingConnection:
    return BlockingConnection(ConnectionParameters("127.0.0.1", **options))


def get_raw(channel: Any, queue: str) -> bytes:
    """The next message of ``queue`` (waiting up to 5 s: another connection published it)."""
    deadline = time.monotonic() + 5
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return bytes(body)
        assert time.monotonic() < deadline, "the broker holds no message"
        time.sleep(0.02)


@pytest.mark.parametrize("confirm", [False, True])
def test_broker_receives_the_masked_body(streamdal: Any, plain: Any, confirm: bool) -> None:
    queue = queue_name("orders.eu")
    plain.queue_declare(queue, auto_delete=True)
    connection = connect(interceptors=[mask_engine()])
    try:
        channel = connection.channel()
        if confirm:
            channel.confirm_delivery()
        channel.basic_publish("", queue, json.dumps(EMAIL))  # a str body: encoded, then masked
    finally:
        connection.close()
    body = get_raw(plain, queue)
    assert masked(body) and json.loads(body)["n"] == 1


def test_consumers_see_masked_bodies_on_every_path(streamdal: Any, plain: Any) -> None:
    queue = queue_name("orders.in")
    plain.queue_declare(queue, auto_delete=False)
    connection = connect(interceptors=[mask_engine()])
    try:
        channel = connection.channel()
        plain.basic_publish("", queue, json.dumps(EMAIL))
        method, _p, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None and masked(body)
        plain.basic_publish("", queue, json.dumps(EMAIL))
        for method, _p, body in channel.consume(queue, auto_ack=True, inactivity_timeout=5):
            assert method is not None and masked(body)
            break
        channel.cancel()
        plain.basic_publish("", queue, json.dumps(EMAIL))
        seen: list[bytes] = []

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            seen.append(body)
            ch.stop_consuming()

        channel.basic_consume(queue, on_message, auto_ack=True)
        connection.call_later(5, channel.stop_consuming)
        channel.start_consuming()
        assert len(seen) == 1 and masked(seen[0])
    finally:
        plain.queue_delete(queue)
        connection.close()


def test_schema_false_drop_on_publish_and_on_delivery(streamdal: Any, plain: Any) -> None:
    queue = queue_name("orders.schema")
    dead = queue + ".dlq"
    plain.queue_declare(dead, auto_delete=False)
    plain.queue_declare(
        queue,
        auto_delete=False,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
    )
    engine = schema_drop_engine()
    connection = connect(interceptors=[engine])
    raising = connect(interceptors=[schema_drop_engine()], drop_policy="raise")
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, b'{"no": "id"}')  # dropped silently: not sent
        channel.basic_publish("", queue, b'{"id": 1}')
        with pytest.raises(MessageDropped):
            raising.channel().basic_publish("", queue, b'{"no": "id"}')
        assert get_raw(plain, queue) == b'{"id": 1}'
        assert plain.basic_get(queue, auto_ack=True)[0] is None
        assert engine.metrics_snapshot().value("dropped_total") == 1

        plain.basic_publish("", queue, b'{"bad": true}')
        calls: list[bytes] = []
        consumer = connection.channel()

        def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
            calls.append(body)

        consumer.basic_consume(queue, on_message, auto_ack=False)
        connection.process_data_events(time_limit=1.0)
        assert calls == []  # the callback never ran
        # Rejected without requeue: dead-lettered.
        assert get_raw(plain, dead) == b'{"bad": true}'
        assert engine.metrics_snapshot().value("dropped_total", operation_type="consumer") == 1
    finally:
        plain.queue_delete(queue)
        plain.queue_delete(dead)
        connection.close()
        raising.close()


class Exploding(Interceptor):
    def on_publish(self, ctx: MessageContext) -> Verdict:
        raise RuntimeError("boom")

    on_deliver = on_publish


def test_error_policies_keep_the_connection_usable(streamdal: Any, plain: Any) -> None:
    queue = queue_name("errors")
    plain.queue_declare(queue, auto_delete=True)
    lenient = connect(interceptors=[Exploding()])
    strict = connect(interceptors=[Exploding()], on_error="raise")
    try:
        lenient.channel().basic_publish("", queue, b"original")
        assert get_raw(plain, queue) == b"original"
        channel = strict.channel()
        with pytest.raises(InterceptorError, match="boom"):
            channel.basic_publish("", queue, b"x")
        assert channel.is_open and strict.is_open
        with pika_streamdal.call_options(pika_streamdal.InterceptOptions(on_error="pass_original")):
            channel.basic_publish("", queue, b"after")
        assert get_raw(plain, queue) == b"after"
    finally:
        lenient.close()
        strict.close()


def test_audiences_with_dots_and_streamdal_cfg(streamdal: Any, plain: Any) -> None:
    seen: list[MessageContext] = []

    class Spy(Interceptor):
        def on_publish(self, ctx: MessageContext) -> Verdict:
            seen.append(ctx)
            return DROP("spy")

    exchange = queue_name("ex.with.dots")
    plain.exchange_declare(exchange, "topic", auto_delete=True)
    connection = connect(interceptors=[Spy()], service_name="svc.a")
    try:
        channel = connection.channel()
        channel.basic_publish(exchange, "rk.x.y", b"x")
        cfg = pika_streamdal.StreamdalRuntimeConfig(
            audience=pika_streamdal.Audience("svc.b", "rabbitmq", 1, "custom.op")
        )
        with pika_streamdal.call_options(streamdal_cfg=cfg):
            channel.basic_publish(exchange, "rk", b"x")
    finally:
        connection.close()
        plain.exchange_delete(exchange)
    assert seen[0].audience == pika_streamdal.Audience("svc.a", "rabbitmq", 2, f"{exchange}/rk.x.y")
    assert seen[1].audience == pika_streamdal.Audience("svc.b", "rabbitmq", 2, "custom.op")


def test_tail_sees_original_and_masked(streamdal: Any, plain: Any) -> None:
    queue = queue_name("tail")
    plain.queue_declare(queue, auto_delete=True)
    engine = mask_engine()
    sub = engine.tail("*", maxsize=2)
    connection = connect(interceptors=[engine])
    try:
        channel = connection.channel()
        for _ in range(3):
            channel.basic_publish("", queue, json.dumps(EMAIL))
    finally:
        connection.close()
    event = sub.get(timeout=1)
    assert event is not None and event.original is not None and event.new is not None
    assert not masked(event.original) and masked(event.new)
    assert sub.dropped == 1


def test_no_interceptors_no_change(streamdal: Any, plain: Any) -> None:
    queue = queue_name("plain")
    plain.queue_declare(queue, auto_delete=True)
    connection = connect()
    try:
        channel = connection.channel()
        assert channel._hooks is None  # the per-message cost is one check
        channel.basic_publish("", queue, json.dumps(EMAIL))
    finally:
        connection.close()
    assert not masked(get_raw(plain, queue))


def test_streamdal_server_down_passes_through(streamdal: Any, plain: Any) -> None:
    import threading

    from pika_streamdal.bridge import StreamdalInterceptor

    def factory() -> Any:
        raise ConnectionRefusedError("server down")

    queue = queue_name("sd.down")
    plain.queue_declare(queue, auto_delete=True)
    interceptor = StreamdalInterceptor(client_factory=factory, retry_initial=60)
    connection = connect(interceptors=[interceptor])
    try:
        connection.channel().basic_publish("", queue, b"through")
    finally:
        connection.close()
    assert get_raw(plain, queue) == b"through"
    leaked = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    assert leaked == []


def test_closed_connection_closes_interceptors(streamdal: Any) -> None:
    closed: list[int] = []

    class Closing(Interceptor):
        def close(self) -> None:
            closed.append(1)

    connection = connect(interceptors=[Closing])
    connection.channel()
    connection.close()
    assert closed == [1]
    with pytest.raises(exceptions.ConnectionWrongStateError):
        connection.channel()
