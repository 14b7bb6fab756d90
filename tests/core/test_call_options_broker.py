"""Per-call options, the delivery's queue and api, settle modes and ``params`` on a real broker."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest

from pika_core import hooks
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.hooks import DeliveryContext, PublishContext
from pika_core.parameters import ConnectionParameters
from pika_core.plugins import hookimpl
from pika_core.testing import fresh_plugin_manager

pytestmark = pytest.mark.broker


class Recorder:
    """Records contexts; drops deliveries whose body names a settle mode."""

    def __init__(self) -> None:
        self.created: list[Any] = []
        self.published: list[dict[str, Any]] = []
        self.delivered: list[tuple[Any, str, dict[str, Any]]] = []

    @hookimpl
    def pika_connection_created(self, connection: Any) -> None:
        self.created.append(connection.params)

    @hookimpl
    def pika_before_publish(self, context: PublishContext) -> None:
        self.published.append(dict(context.options))

    @hookimpl
    def pika_on_delivery(self, context: DeliveryContext) -> None:
        self.delivered.append((context.queue, context.api, dict(context.options)))
        if context.body in (b"reject", b"ack", b"none"):
            context.drop("test", settle=context.body.decode())  # type: ignore[arg-type]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    hooks.register_call_option("test_label", owner="tests")
    plugin = Recorder()
    try:
        for manager in fresh_plugin_manager():
            manager.register(plugin)
            yield plugin
    finally:
        hooks.unregister_call_option("test_label")


def _count(channel: Any, queue: str, expected: int) -> int:
    deadline = time.monotonic() + 5
    while True:
        count = int(channel.queue_declare(queue, passive=True).method.message_count)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_blocking_options_queue_api_and_settle(recorder: Recorder) -> None:
    params = ConnectionParameters("127.0.0.1")
    connection = BlockingConnection(params)
    assert connection.params is params and recorder.created == [params]
    channel = connection.channel()
    queue = f"core.options.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue)
    try:
        channel.basic_publish("", queue, b"plain")
        channel.basic_publish("", queue, b"one", test_label="p")
        with pytest.raises(TypeError, match="unexpected keyword argument 'test_lable'"):
            channel.basic_publish("", queue, b"x", test_lable="p")
        assert recorder.published == [{}, {"test_label": "p"}]
        assert _count(channel, queue, 2) == 2
        assert channel.basic_get(queue, auto_ack=True, test_label="g")[2] == b"plain"
        seen: list[bytes] = []
        tag = channel.basic_consume(
            queue, lambda ch, m, p, b: seen.append(b), auto_ack=True, test_label="c"
        )
        connection.process_data_events(time_limit=0.5)
        channel.basic_cancel(tag)
        for body in (b"ack", b"reject", b"none"):
            channel.basic_publish("", queue, body)
        for method, _props, _body in channel.consume(queue, inactivity_timeout=0.5, test_label="g"):
            assert method is None  # every one was dropped: the generator only times out
            break
        channel.cancel()
        assert seen == [b"one"]
        kinds = [(q, api, opts.get("test_label")) for q, api, opts in recorder.delivered]
        assert kinds[:2] == [(queue, "basic_get", "g"), (queue, "basic_consume", "c")]
        assert kinds[2:] == [(queue, "consume", "g")] * 3
        # "ack" is gone, "reject" requeued=False is gone, "none" is unacked until the close
        assert _count(channel, queue, 0) == 0
        other = BlockingConnection(ConnectionParameters("127.0.0.1")).channel()
        connection.close()
        assert _count(other, queue, 1) == 1
        other.queue_delete(queue)
        other.connection.close()
    finally:
        if connection.is_open:
            channel.queue_delete(queue)
            connection.close()
