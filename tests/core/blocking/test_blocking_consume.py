"""Consumers against the real broker: callbacks, the consume() generator, cancels, closes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pika_core import exceptions, spec
from pika_core.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika_core.parameters import URLParameters

pytestmark = pytest.mark.broker


def _fill(channel: BlockingChannel, queue: str, count: int) -> None:
    for number in range(count):
        channel.basic_publish("", queue, f"m{number}".encode())
    # A round trip after the publishes: the broker has routed them when it answers.
    for _ in range(50):
        if channel.queue_declare(queue, passive=True).method.message_count >= count:
            return
        channel.connection.sleep(0.02)


def test_basic_consume_start_stop(channel: BlockingChannel, queue: str) -> None:
    _fill(channel, queue, 5)
    seen: list[tuple[Any, bytes]] = []

    def on_message(ch: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        assert ch is channel
        assert isinstance(method, spec.Basic.Deliver)
        assert isinstance(properties, spec.BasicProperties)
        seen.append((method.consumer_tag, body))
        assert method.delivery_tag is not None
        ch.basic_ack(method.delivery_tag)
        if len(seen) == 5:
            ch.stop_consuming()

    tag = channel.basic_consume(queue, on_message)
    assert channel.consumer_tags == [tag]
    channel.start_consuming()
    assert [body for _t, body in seen] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert all(t == tag for t, _b in seen)
    assert channel.consumer_tags == []


def test_duplicate_consumer_tag(channel: BlockingChannel, queue: str) -> None:
    channel.basic_consume(queue, lambda *a: None, consumer_tag="dup")
    with pytest.raises(exceptions.DuplicateConsumerTag):
        channel.basic_consume(queue, lambda *a: None, consumer_tag="dup")


def test_start_consuming_is_not_reentrant(channel: BlockingChannel, queue: str) -> None:
    _fill(channel, queue, 1)
    errors: list[BaseException] = []

    def on_message(ch: BlockingChannel, method: Any, _p: Any, _b: bytes) -> None:
        try:
            ch.start_consuming()
        except exceptions.ReentrancyError as exc:
            errors.append(exc)
        ch.basic_ack(method.delivery_tag)
        ch.stop_consuming()

    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    assert len(errors) == 1


def test_basic_cancel_auto_ack_returns_pending(connection: BlockingConnection, queue: str) -> None:
    channel = connection.channel()
    _fill(channel, queue, 10)
    tag = channel.basic_consume(queue, lambda *a: None, auto_ack=True)
    # Let deliveries arrive without dispatching them (a timer keeps dispatch busy? no:
    # an RPC waits without running consumer callbacks).
    for _ in range(50):
        channel.basic_qos(prefetch_count=0)
        if len(channel._pending) >= 10:
            break
    pending = channel.basic_cancel(tag)
    assert [body for _m, _p, body in pending] == [f"m{n}".encode() for n in range(10)]
    assert all(isinstance(m, spec.Basic.Deliver) for m, _p, _b in pending)


def test_basic_cancel_manual_ack_rejects_pending(
    connection: BlockingConnection, queue: str
) -> None:
    channel = connection.channel()
    _fill(channel, queue, 4)
    tag = channel.basic_consume(queue, lambda *a: None)
    for _ in range(50):
        channel.basic_qos(prefetch_count=0)
        if len(channel._pending) >= 4:
            break
    assert channel.basic_cancel(tag) == []
    assert channel.basic_cancel("unknown-tag") == []
    # Rejected with requeue: they are back in the queue, redelivered.
    method, _p, body = channel.basic_get(queue, auto_ack=True)
    assert method is not None and method.redelivered and body == b"m0"


def test_consume_generator_inactivity_and_resume(channel: BlockingChannel, queue: str) -> None:
    _fill(channel, queue, 3)
    bodies: list[Any] = []
    for method, _props, body in channel.consume(queue, inactivity_timeout=0.3):
        if method is None:
            bodies.append(None)
            break
        bodies.append(body)
        channel.basic_ack(method.delivery_tag)
    assert bodies == [b"m0", b"m1", b"m2", None]
    # Resume the same generator consumer: same parameters, same consumer.
    tags = channel.consumer_tags
    channel.basic_publish("", queue, b"later")
    started = time.monotonic()
    for method, _props, body in channel.consume(queue, inactivity_timeout=5):
        assert body == b"later"
        channel.basic_ack(method.delivery_tag)
        break
    assert time.monotonic() - started < 4
    assert channel.consumer_tags == tags
    with pytest.raises(ValueError):
        next(channel.consume(queue, auto_ack=True))
    assert channel.cancel() == 0
    assert channel.consumer_tags == []
    assert channel.cancel() == 0


def test_consume_generator_waiting_count_and_cancel_rejects(
    connection: BlockingConnection, queue: str
) -> None:
    channel = connection.channel()
    _fill(channel, queue, 5)
    generator = channel.consume(queue)
    method, _props, body = next(generator)
    assert body == b"m0" and method.delivery_tag == 1
    for _ in range(50):
        if channel.get_waiting_message_count() == 4:
            break
        connection.process_data_events(0.05)
    assert channel.get_waiting_message_count() == 4
    channel.cancel()
    assert channel.get_waiting_message_count() == 0
    # m0 was not acked and the four waiting ones were rejected: all five come back.
    channel.close()
    other = connection.channel()
    count = 0
    while other.basic_get(queue, auto_ack=True)[0] is not None:
        count += 1
    assert count == 5


def test_consume_generator_ends_on_broker_cancel(
    connection: BlockingConnection, params: URLParameters, name: str
) -> None:
    channel = connection.channel()
    channel.queue_declare(name)

    def delete_soon() -> None:
        with BlockingConnection(params) as other:
            other.channel().queue_delete(name)

    connection.call_later(0.2, delete_soon)
    started = time.monotonic()
    yielded = list(channel.consume(name, inactivity_timeout=10))
    assert yielded == []
    assert time.monotonic() - started < 5
    assert channel.consumer_tags == []
    assert channel.is_open


def test_broker_cancel_calls_cancel_callback_and_ends_start_consuming(
    connection: BlockingConnection, params: URLParameters, name: str
) -> None:
    channel = connection.channel()
    channel.queue_declare(name)
    cancels: list[Any] = []
    channel.add_on_cancel_callback(cancels.append)
    tag = channel.basic_consume(name, lambda *a: None)

    def delete_soon() -> None:
        with BlockingConnection(params) as other:
            other.channel().queue_delete(name)

    connection.call_later(0.2, delete_soon)
    channel.start_consuming()
    assert len(cancels) == 1
    assert isinstance(cancels[0].method, spec.Basic.Cancel)
    assert cancels[0].method.consumer_tag == tag


def test_channel_closed_by_broker_raises_from_start_consuming(
    connection: BlockingConnection, queue: str
) -> None:
    channel = connection.channel()
    _fill(channel, queue, 1)

    def on_message(ch: BlockingChannel, method: Any, _p: Any, _b: bytes) -> None:
        ch.basic_ack(method.delivery_tag + 1000)  # unknown tag: 406 PRECONDITION_FAILED

    channel.basic_consume(queue, on_message)
    started = time.monotonic()
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        channel.start_consuming()
    assert info.value.reply_code == 406
    assert "PRECONDITION_FAILED" in info.value.reply_text
    assert time.monotonic() - started < 5
    assert channel.is_closed and connection.is_open


def test_channel_closed_by_broker_raises_from_consume(
    connection: BlockingConnection, queue: str
) -> None:
    channel = connection.channel()
    _fill(channel, queue, 1)
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        for method, _p, _b in channel.consume(queue, inactivity_timeout=5):
            channel.basic_ack(method.delivery_tag + 1000)
    assert info.value.reply_code == 406


def test_close_channel_cancels_consumers(connection: BlockingConnection, queue: str) -> None:
    channel = connection.channel()
    channel.basic_consume(queue, lambda *a: None)
    channel.close()
    assert channel.is_closed and channel.consumer_tags == []
    other = connection.channel()
    assert other.queue_declare(queue, passive=True).method.consumer_count == 0


def test_prefetch_consume_many_with_multiple_acks(channel: BlockingChannel, queue: str) -> None:
    total = 3000
    body = b"x" * 64
    for _ in range(total):
        channel.basic_publish("", queue, body)
    channel.basic_qos(prefetch_count=500)
    count = [0]

    def on_message(ch: BlockingChannel, method: Any, _p: Any, _b: bytes) -> None:
        count[0] += 1
        if count[0] % 100 == 0:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if count[0] == total:
            ch.stop_consuming()

    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    assert count[0] == total


def test_process_data_events_returns_at_once_when_deliveries_are_already_read(
    connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    seen: list[bytes] = []
    channel.basic_consume(queue, lambda ch, m, p, body: seen.append(body), auto_ack=True)
    for i in range(5):
        channel.basic_publish("", queue, f"m{i}".encode())
    # Synchronous calls read deliveries off the socket without dispatching them.
    deadline = time.monotonic() + 10
    while not connection._has_dispatchable() and time.monotonic() < deadline:
        channel.queue_declare(queue, passive=True)
    assert connection._has_dispatchable()
    assert not seen
    started = time.monotonic()
    connection.process_data_events(time_limit=5)
    # Had it waited out its time limit with callbacks ready, this would take 5 s.
    assert time.monotonic() - started < 2.5
    assert seen


def test_cancel_requeues_deliveries_that_crossed_the_cancel(
    connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    channel.basic_qos(prefetch_count=50)
    for i in range(50):
        channel.basic_publish("", queue, f"m{i}".encode())
    for method, _props, _body in channel.consume(queue, inactivity_timeout=5):
        assert method is not None
        break  # leave the rest of the prefetched deliveries unconsumed
    assert channel.cancel() == 0
    # Everything but the one taken (unacked until the channel closes) goes back to the queue.
    deadline = time.monotonic() + 10
    count = -1
    while time.monotonic() < deadline:
        count = channel.queue_declare(queue, passive=True).method.message_count
        if count == 49:
            break
        connection.sleep(0.1)
    assert count == 49
    assert channel.get_waiting_message_count() == 0
