"""Publisher confirms against the real broker: pika's stop-and-wait and the pipelined mode."""

from __future__ import annotations

import pytest

from pika_core import exceptions, spec
from pika_core.adapters.blocking_connection import (
    BlockingChannel,
    BlockingConnection,
    PublishHandle,
    ReturnedMessage,
)

pytestmark = pytest.mark.broker

REJECT_WHEN_FULL = {"x-max-length": 1, "x-overflow": "reject-publish"}


def test_stop_and_wait_ack(channel: BlockingChannel, queue: str) -> None:
    channel.confirm_delivery()
    assert channel.basic_publish("", queue, b"acked") is None
    assert channel.basic_get(queue, auto_ack=True)[2] == b"acked"


def test_confirm_delivery_twice_is_harmless(channel: BlockingChannel, queue: str) -> None:
    channel.confirm_delivery()
    channel.confirm_delivery()
    assert channel.basic_publish("", queue, b"x") is None


def test_stop_and_wait_unroutable(channel: BlockingChannel, name: str) -> None:
    channel.confirm_delivery()
    # Without mandatory an unroutable message is simply acked.
    assert channel.basic_publish("", name + ".nowhere", b"dropped") is None
    with pytest.raises(exceptions.UnroutableError) as info:
        channel.basic_publish("", name + ".nowhere", b"returned", mandatory=True)
    (message,) = info.value.messages
    assert isinstance(message, ReturnedMessage)
    assert isinstance(message.method, spec.Basic.Return)
    assert message.method.reply_code == spec.NO_ROUTE and message.body == b"returned"
    assert channel.is_open


def test_stop_and_wait_nack(channel: BlockingChannel, name: str) -> None:
    channel.queue_declare(name, auto_delete=True, arguments=REJECT_WHEN_FULL)
    channel.confirm_delivery()
    channel.basic_publish("", name, b"fits")
    with pytest.raises(exceptions.NackError) as info:
        channel.basic_publish("", name, b"rejected")
    assert info.value.messages == []
    channel.queue_delete(name)


def test_pipelined_all_acked(channel: BlockingChannel, queue: str) -> None:
    channel.confirm_delivery(pipelined=True)
    handles = [channel.basic_publish("", queue, f"m{n}") for n in range(500)]
    assert all(isinstance(h, PublishHandle) for h in handles)
    assert [h.sequence_number for h in handles if h is not None] == list(range(1, 501))
    assert channel.wait_for_confirms(timeout=30) is True
    assert all(h is not None and h.done() and h.acked for h in handles)
    assert handles[0] is not None and handles[0].exception() is None
    handles[0].result()
    assert channel.outstanding_confirms == 0


def test_pipelined_reports_exactly_the_failed_messages(channel: BlockingChannel, name: str) -> None:
    full = name + ".full"
    channel.queue_declare(full, auto_delete=True, arguments=REJECT_WHEN_FULL)
    channel.confirm_delivery(pipelined=True)
    ok = channel.basic_publish("", full, b"fits")
    unroutable = channel.basic_publish("", name + ".nowhere", b"returned", mandatory=True)
    nacked = channel.basic_publish("", full, b"over the limit")
    plain = channel.basic_publish("", name + ".nowhere", b"not mandatory")
    with pytest.raises(exceptions.NackError) as info:
        channel.wait_for_confirms(timeout=30)
    failed = info.value.messages
    assert [h.body for h in failed] == [b"returned", b"over the limit"]
    assert failed[0] is unroutable and failed[1] is nacked
    assert isinstance(unroutable.method, spec.Basic.Return)
    assert ok is not None and ok.acked and plain is not None and plain.acked
    with pytest.raises(exceptions.UnroutableError):
        unroutable.result()
    assert isinstance(nacked.exception(), exceptions.NackError)
    # Reported once: the next wait has nothing new to report.
    assert channel.wait_for_confirms(timeout=5) is True
    channel.queue_delete(full)


def test_pipelined_only_unroutable_raises_unroutable(channel: BlockingChannel, name: str) -> None:
    channel.confirm_delivery(pipelined=True)
    handles = [
        channel.basic_publish("", name + ".a", b"same body", mandatory=True),
        channel.basic_publish("", name + ".b", b"other", mandatory=True),
    ]
    with pytest.raises(exceptions.UnroutableError) as info:
        channel.wait_for_confirms()
    assert info.value.messages == handles
    assert [m.method.routing_key for m in info.value.messages] == [name + ".a", name + ".b"]


def test_pipelined_max_outstanding_bounds_the_window(channel: BlockingChannel, queue: str) -> None:
    channel.confirm_delivery(pipelined=True, max_outstanding=10)
    high = 0
    for n in range(300):
        channel.basic_publish("", queue, b"x")
        high = max(high, channel.outstanding_confirms)
    assert high <= 10
    assert channel.wait_for_confirms(timeout=30) is True


def test_handle_result_waits(channel: BlockingChannel, queue: str) -> None:
    channel.confirm_delivery(pipelined=True)
    handle = channel.basic_publish("", queue, b"x")
    assert handle is not None
    handle.result(timeout=10)
    assert handle.done() and handle.acked


def test_wait_for_confirms_needs_confirm_mode(channel: BlockingChannel) -> None:
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.wait_for_confirms()


def test_outstanding_confirms_fail_when_channel_closes(
    connection: BlockingConnection, name: str
) -> None:
    channel = connection.channel()
    channel.confirm_delivery(pipelined=True)
    handle = channel.basic_publish("", name + ".nowhere", b"x")
    # Publishing to a missing exchange closes the channel (404) before any ack.
    missing = channel.basic_publish(name + ".no-exchange", "rk", b"y")
    with pytest.raises(exceptions.ChannelClosedByBroker) as info:
        channel.wait_for_confirms(timeout=10)
    assert info.value.reply_code == 404
    assert handle is not None and missing is not None
    assert handle.done() and missing.done()
    assert isinstance(missing.exception(), exceptions.ChannelClosedByBroker)
