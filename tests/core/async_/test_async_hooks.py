"""The plugin hooks wired into the asynchronous Connection/Channel, against the broker."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from conftest import Harness

from pika_core.channel import Channel
from pika_core.hookspecs import hookimpl
from pika_core.plugins import new_plugin_manager, use_plugin_manager

pytestmark = pytest.mark.broker


class _Recorder:
    """An in-process plugin: records lifecycle, rewrites and drops messages, sees confirms."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def pika_connection_created(self, connection: Any) -> None:
        self.events.append("connection_created")

    @hookimpl
    def pika_connection_opened(self, connection: Any) -> None:
        self.events.append("connection_opened")

    @hookimpl
    def pika_connection_closed(self, connection: Any, exception: BaseException) -> None:
        self.events.append(("connection_closed", type(exception).__name__))

    @hookimpl
    def pika_channel_opened(self, channel: Any) -> None:
        self.events.append("channel_opened")

    @hookimpl
    def pika_channel_closed(self, channel: Any, exception: BaseException) -> None:
        self.events.append(("channel_closed", type(exception).__name__))

    @hookimpl
    def pika_before_publish(self, context: Any) -> None:
        if context.body == b"drop me":
            context.drop("test drop")
        else:
            context.body = context.body.upper()

    @hookimpl
    def pika_on_delivery(self, context: Any) -> None:
        if context.body == b"HIDE":
            context.drop("hidden", requeue=False)
        else:
            context.body = context.body + b"!"

    @hookimpl
    def pika_on_return(self, context: Any) -> None:
        self.events.append(("return", context.reply_code))

    @hookimpl
    def pika_on_confirm(self, context: Any) -> None:
        self.events.append(("confirm", context.sequence_number, context.outcome))


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    plugin = _Recorder()
    manager = new_plugin_manager()
    manager.register(plugin, name="recorder")
    with use_plugin_manager(manager):
        yield plugin


def test_message_and_lifecycle_hooks(harness: Harness, recorder: _Recorder) -> None:
    h = harness
    delivered: list[bytes] = []

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=h.cb(on_channel))

    def on_channel(ch: Channel) -> None:
        def ready(frame: Any) -> None:
            queue = frame.method.queue
            ch.confirm_delivery(h.cb(lambda _f: None), callback=h.cb(lambda _f: publish(queue)))

        def publish(queue: str) -> None:
            ch.basic_publish("", queue, b"hello")  # seq 1, delivered as HELLO!
            ch.basic_publish("", queue, b"drop me")  # dropped by the plugin: no seq
            ch.basic_publish("", queue, b"hide")  # seq 2, dropped on delivery
            ch.basic_publish("", "pika-core-nowhere", b"lost", mandatory=True)  # seq 3
            assert ch.last_publish_sequence_number == 3
            ch.basic_publish("", queue, b"last")  # seq 4
            ch.basic_consume(queue, on_message)

        def on_message(channel: Channel, method: Any, props: Any, body: bytes) -> None:
            delivered.append(body)
            channel.basic_ack(method.delivery_tag)
            if body == b"LAST!":
                ch.queue_declare(queue_name[0], passive=True, callback=h.cb(check))

        def check(frame: Any) -> None:
            assert frame.method.message_count == 0  # HIDE was rejected without requeue
            h.finish()

        queue_name: list[str] = []

        def declared(frame: Any) -> None:
            queue_name.append(frame.method.queue)
            ready(frame)

        ch.queue_declare("", exclusive=True, callback=h.cb(declared))

    h.connect(on_open)
    h.run()
    assert delivered == [b"HELLO!", b"LAST!"]
    events = recorder.events
    assert events[:3] == ["connection_created", "connection_opened", "channel_opened"]
    confirms = sorted(e for e in events if isinstance(e, tuple) and e[0] == "confirm")
    assert confirms == [
        ("confirm", 1, "acked"),
        ("confirm", 2, "acked"),
        ("confirm", 3, "returned"),
        ("confirm", 4, "acked"),
    ]
    assert ("return", 312) in events
    assert events[-2:] == [
        ("channel_closed", "ChannelClosedByClient"),
        ("connection_closed", "ConnectionClosedByClient"),
    ]


class _SettleRecorder:
    """Records pika_on_settle and pika_after_delivery calls only."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def pika_on_settle(self, context: Any) -> None:
        self.calls.append(
            ("settle", context.delivery_tag, context.multiple, context.action, context.requeue)
        )

    @hookimpl
    def pika_after_delivery(self, context: Any, exception: Any) -> None:
        self.calls.append(("after", context.api, context.body, context.delivery_tag, exception))


def test_settle_and_after_delivery_hooks(harness: Harness) -> None:
    h = harness
    plugin = _SettleRecorder()
    manager = new_plugin_manager()
    manager.register(plugin, name="settle-recorder")

    def on_open(conn: Any) -> None:
        conn.channel(on_open_callback=h.cb(on_channel))

    def on_channel(ch: Channel) -> None:
        def declared(frame: Any) -> None:
            queue = frame.method.queue
            for body in (b"one", b"two", b"three"):
                ch.basic_publish("", queue, body)
            ch.basic_consume(queue, h.cb(on_message))

        def on_message(channel: Channel, method: Any, props: Any, body: bytes) -> None:
            plugin.calls.append(("callback", body))
            if body == b"one":
                channel.basic_ack(method.delivery_tag)
            elif body == b"two":
                channel.basic_reject(method.delivery_tag, requeue=False)
            else:
                channel.basic_nack(method.delivery_tag, multiple=True, requeue=False)
                ch.queue_declare(method.routing_key, passive=True, callback=h.cb(check))

        def check(frame: Any) -> None:
            assert frame.method.message_count == 0
            h.finish()

        ch.queue_declare("", exclusive=True, callback=h.cb(declared))

    with use_plugin_manager(manager):
        h.connect(on_open)
        h.run()
    assert plugin.calls == [
        ("callback", b"one"),
        ("settle", 1, False, "ack", False),
        ("after", "basic_consume", b"one", 1, None),
        ("callback", b"two"),
        ("settle", 2, False, "reject", False),
        ("after", "basic_consume", b"two", 2, None),
        ("callback", b"three"),
        ("settle", 3, True, "nack", False),
        ("after", "basic_consume", b"three", 3, None),
    ]
