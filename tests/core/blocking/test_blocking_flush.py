"""When BlockingConnection sends: a lone publish at once, a burst in batches, its tail without
waiting on the application, and the acks of one dispatch turn in one send."""

from __future__ import annotations

import time
from typing import Any

from pika_core.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika_core.parameters import URLParameters


def _count(params: URLParameters, queue: str) -> int:
    with BlockingConnection(params) as conn:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)


def _wait_count(params: URLParameters, queue: str, count: int, limit: float = 10.0) -> int:
    deadline = time.monotonic() + limit
    seen = _count(params, queue)
    while seen < count and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = _count(params, queue)
    return seen


def test_a_lone_publish_leaves_the_process_before_basic_publish_returns(
    connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    time.sleep(0.01)  # well past the burst gap since the channel's last frame
    channel.basic_publish("", queue, b"alone")
    pump = connection._pump
    assert pump is not None
    assert not pump.has_pending()


def test_the_tail_of_a_burst_is_sent_while_the_application_does_other_work(
    params: URLParameters, connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    for index in range(200):
        channel.basic_publish("", queue, b"burst %d" % index)
    # The publisher's thread never calls into the connection again: only the heartbeat
    # thread can send what is still buffered.
    assert _wait_count(params, queue, 200) == 200


def test_without_the_heartbeat_thread_every_publish_is_sent_at_once(
    params: URLParameters, queue: str
) -> None:
    with BlockingConnection(params, heartbeat_thread=False) as conn:
        channel = conn.channel()
        pump = conn._pump
        assert pump is not None
        for index in range(50):
            channel.basic_publish("", queue, b"%d" % index)
            assert not pump.has_pending()
        assert _wait_count(params, queue, 50) == 50


def test_every_wait_flushes_a_buffered_burst_first(
    connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    thread = connection._thread
    pump = connection._pump
    assert thread is not None and pump is not None
    thread.stop()  # only the caller's thread can send now
    thread.join(5)
    waits = [
        lambda: connection.process_data_events(0),
        lambda: connection.sleep(0.001),
        lambda: channel.basic_get(queue, auto_ack=True),
        lambda: channel.queue_declare(queue, passive=True),
    ]
    for wait in waits:
        for index in range(20):
            channel.basic_publish("", queue, b"%d" % index)
        wait()
        assert not pump.has_pending()


def test_acks_of_one_dispatch_turn_share_sends(
    params: URLParameters, connection: BlockingConnection, channel: BlockingChannel, queue: str
) -> None:
    total = 300
    with BlockingConnection(params) as publisher:
        publishing = publisher.channel()
        for index in range(total):
            publishing.basic_publish("", queue, b"%d" % index)
    assert _wait_count(params, queue, total) == total

    pump = connection._pump
    assert pump is not None
    flushes = 0
    original = pump.flush

    def counting_flush() -> bool:
        nonlocal flushes
        flushes += 1
        return original()

    pump.flush = counting_flush  # type: ignore[method-assign]
    received = 0

    def on_message(ch: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        nonlocal received
        received += 1
        ch.basic_ack(method.delivery_tag)
        if received == total:
            ch.stop_consuming()

    channel.basic_qos(prefetch_count=total)
    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    assert received == total
    # One ack per message, but not one send per ack: a turn's callbacks share a send.
    assert flushes < total // 2
    # Every ack reached the broker: nothing is left unacknowledged on the queue.
    channel.close()
    assert _count(params, queue) == 0
