"""BlockingChannel methods against the real broker: topology, get, acks, tx, large bodies."""

from __future__ import annotations

import hashlib
import os

import pytest

from pika_core import exceptions, spec
from pika_core.adapters.blocking_connection import BlockingChannel, BlockingConnection

pytestmark = pytest.mark.broker


def _message_count(channel: BlockingChannel, queue: str, expected: int) -> int:
    """The queue's message count once it reaches ``expected`` (the broker counts asynchronously)."""
    count = -1
    for _ in range(50):
        count = channel.queue_declare(queue, passive=True).method.message_count
        if count == expected:
            break
        channel.connection.sleep(0.02)
    return int(count)


def test_properties_and_context_manager(connection: BlockingConnection) -> None:
    with connection.channel() as channel:
        assert channel.is_open and not channel.is_closed
        assert channel.connection is connection
        assert channel.consumer_tags == []
        assert int(channel) == channel.channel_number
    assert channel.is_closed
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.close()
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.basic_publish("", "x", b"x")


def test_queue_declare_returns_method_frame(channel: BlockingChannel, name: str) -> None:
    frame = channel.queue_declare(name, auto_delete=True)
    assert isinstance(frame.method, spec.Queue.DeclareOk)
    assert frame.method.queue == name
    assert frame.method.message_count == 0 and frame.method.consumer_count == 0
    channel.basic_publish("", name, b"one")
    channel.basic_publish("", name, "two")
    assert _message_count(channel, name, 2) == 2
    purged = channel.queue_purge(name)
    assert isinstance(purged.method, spec.Queue.PurgeOk) and purged.method.message_count == 2
    deleted = channel.queue_delete(name)
    assert isinstance(deleted.method, spec.Queue.DeleteOk)


def test_server_named_queue(channel: BlockingChannel) -> None:
    queue = channel.queue_declare("", exclusive=True).method.queue
    assert queue.startswith("amq.gen-")
    channel.basic_publish("", queue, b"hi")
    method, _props, body = channel.basic_get(queue, auto_ack=True)
    assert body == b"hi" and method is not None


def test_passive_declare_of_missing_queue_raises_channel_closed(
    connection: BlockingConnection, name: str
) -> None:
    channel = connection.channel()
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        channel.queue_declare(name, passive=True)
    assert info.value.reply_code == 404
    assert channel.is_closed
    # Reported once: later calls on the connection are not disturbed by it.
    connection.process_data_events()
    assert connection.channel().is_open


def test_basic_get_empty_and_full(channel: BlockingChannel, queue: str) -> None:
    assert channel.basic_get(queue) == (None, None, None)
    props = spec.BasicProperties(content_type="text/plain", headers={"k": 1})
    channel.basic_publish("", queue, b"payload", props)
    method, properties, body = channel.basic_get(queue)
    assert isinstance(method, spec.Basic.GetOk)
    assert method.message_count == 0 and method.routing_key == queue
    assert properties.content_type == "text/plain" and properties.headers == {"k": 1}
    assert body == b"payload"
    assert method.delivery_tag is not None
    channel.basic_ack(method.delivery_tag)
    assert channel.basic_get(queue) == (None, None, None)


def test_nack_and_reject_requeue(channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"m")
    method, _p, _b = channel.basic_get(queue)
    channel.basic_nack(method.delivery_tag, requeue=True)
    method, _p, _b = channel.basic_get(queue)
    assert method.redelivered is True
    channel.basic_reject(method.delivery_tag, requeue=True)
    method, _p, _b = channel.basic_get(queue)
    channel.basic_reject(method.delivery_tag, requeue=False)
    assert channel.basic_get(queue) == (None, None, None)


def test_basic_recover_redelivers(channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, b"m")
    method, _p, _b = channel.basic_get(queue)
    assert method is not None and not method.redelivered
    channel.basic_recover(requeue=True)
    again, _p, body = channel.basic_get(queue)
    assert body == b"m" and again.redelivered is True
    channel.basic_ack(again.delivery_tag)


def test_basic_qos_and_flow(channel: BlockingChannel) -> None:
    channel.basic_qos(prefetch_count=10)
    channel.basic_qos(prefetch_count=5, global_qos=True)
    assert channel.flow(True) is True


def test_exchanges_and_exchange_to_exchange_bindings(channel: BlockingChannel, name: str) -> None:
    source, destination = name + ".src", name + ".dst"
    declared = channel.exchange_declare(source, "topic", auto_delete=False)
    assert isinstance(declared.method, spec.Exchange.DeclareOk)
    channel.exchange_declare(destination, exchange_type="fanout")
    bound = channel.exchange_bind(destination, source, routing_key="a.*")
    assert isinstance(bound.method, spec.Exchange.BindOk)
    queue = channel.queue_declare("", exclusive=True).method.queue
    queue_bound = channel.queue_bind(queue, destination)
    assert isinstance(queue_bound.method, spec.Queue.BindOk)
    channel.basic_publish(source, "a.b", b"routed")
    channel.basic_publish(source, "x.y", b"not routed")
    assert channel.basic_get(queue, auto_ack=True)[2] == b"routed"
    assert channel.basic_get(queue, auto_ack=True) == (None, None, None)
    unbound = channel.exchange_unbind(destination, source, routing_key="a.*")
    assert isinstance(unbound.method, spec.Exchange.UnbindOk)
    channel.basic_publish(source, "a.b", b"after unbind")
    assert isinstance(channel.queue_unbind(queue, destination).method, spec.Queue.UnbindOk)
    assert channel.basic_get(queue, auto_ack=True) == (None, None, None)
    assert isinstance(channel.exchange_delete(destination).method, spec.Exchange.DeleteOk)
    channel.exchange_delete(source)
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        channel.exchange_declare(source, passive=True)
    assert info.value.reply_code == 404


def test_queue_bind_routing_key_defaults_to_queue(channel: BlockingChannel, name: str) -> None:
    channel.exchange_declare(name, "direct", auto_delete=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, name)
    channel.basic_publish(name, queue, b"by queue name")
    assert channel.basic_get(queue, auto_ack=True)[2] == b"by queue name"
    channel.exchange_delete(name)


def test_transactions(channel: BlockingChannel, queue: str) -> None:
    assert isinstance(channel.tx_select().method, spec.Tx.SelectOk)
    channel.basic_publish("", queue, b"rolled back")
    assert isinstance(channel.tx_rollback().method, spec.Tx.RollbackOk)
    assert channel.basic_get(queue) == (None, None, None)
    channel.basic_publish("", queue, b"committed")
    assert isinstance(channel.tx_commit().method, spec.Tx.CommitOk)
    assert channel.basic_get(queue, auto_ack=True)[2] == b"committed"


def test_return_callback_without_confirms(connection: BlockingConnection, name: str) -> None:
    channel = connection.channel()
    returned: list[tuple[object, object, bytes]] = []
    channel.add_on_return_callback(lambda ch, m, p, b: returned.append((ch, m, b)))
    channel.basic_publish("", name + ".nowhere", b"lost", mandatory=True)
    assert returned == []  # never inside basic_publish
    connection.process_data_events(time_limit=1)
    for _ in range(20):
        if returned:
            break
        connection.process_data_events(time_limit=0.1)
    assert len(returned) == 1
    ch, method, body = returned[0]
    assert ch is channel and body == b"lost"
    assert isinstance(method, spec.Basic.Return) and method.reply_code == spec.NO_ROUTE


def test_ten_mib_body_across_many_frames(channel: BlockingChannel, queue: str) -> None:
    body = os.urandom(10 * 1024 * 1024)
    channel.basic_publish("", queue, body)
    method, _props, received = channel.basic_get(queue, auto_ack=True)
    assert method is not None
    assert len(received) == len(body)
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()


def test_str_body_is_utf8(channel: BlockingChannel, queue: str) -> None:
    channel.basic_publish("", queue, "héllo ✓")
    assert channel.basic_get(queue, auto_ack=True)[2] == "héllo ✓".encode()


def test_ack_unknown_tag_closes_channel_with_406(connection: BlockingConnection) -> None:
    channel = connection.channel()
    channel.basic_ack(12345)
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        connection.process_data_events(time_limit=2)
        connection.process_data_events(time_limit=2)
    assert info.value.reply_code == 406
    assert channel.is_closed and connection.is_open
