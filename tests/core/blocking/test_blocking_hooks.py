"""Message hooks in BlockingChannel: publish, delivery, return and confirm call the plugins."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from pika_core import exceptions, plugins
from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.hooks import ConfirmContext, DeliveryContext, PublishContext, ReturnContext
from pika_core.hookspecs import hookimpl
from pika_core.parameters import URLParameters

pytestmark = pytest.mark.broker


class Recorder:
    """An in-process plugin that rewrites bodies and records every message hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def pika_before_publish(self, context: PublishContext) -> None:
        self.calls.append(("publish", context.body))
        if context.body == b"drop me":
            context.drop("test")
        else:
            context.body = context.body.upper()

    @hookimpl
    def pika_on_delivery(self, context: DeliveryContext) -> None:
        self.calls.append(("delivery", context.body))
        context.body = context.body + b"!"

    @hookimpl
    def pika_on_return(self, context: ReturnContext) -> None:
        self.calls.append(("return", context.reply_code))

    @hookimpl
    def pika_on_confirm(self, context: ConfirmContext) -> None:
        self.calls.append(("confirm", (context.sequence_number, context.outcome)))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    name = plugins.register(plugin, "test-blocking-recorder")
    yield plugin
    plugins.unregister(name=name)


def test_message_hooks_are_called(recorder: Recorder, params: URLParameters, name: str) -> None:
    with BlockingConnection(params) as conn:
        channel = conn.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.confirm_delivery(pipelined=True)
        assert channel.basic_publish("", queue, b"drop me") is None
        channel.basic_publish("", queue, "hello")
        channel.basic_publish("", name + ".nowhere", b"lost", mandatory=True)
        with pytest.raises(exceptions.UnroutableError):
            channel.wait_for_confirms(timeout=10)
        _method, _props, body = channel.basic_get(queue, auto_ack=True)
        assert body == b"HELLO!"
    kinds = [kind for kind, _value in recorder.calls]
    assert ("publish", b"drop me") in recorder.calls
    assert ("publish", b"hello") in recorder.calls
    assert ("delivery", b"HELLO") in recorder.calls
    assert ("return", 312) in recorder.calls
    assert ("confirm", (1, "acked")) in recorder.calls
    assert ("confirm", (2, "returned")) in recorder.calls
    assert kinds.count("confirm") == 2


def test_no_plugin_means_no_hooks(params: URLParameters) -> None:
    with BlockingConnection(params) as conn:
        assert conn.channel()._hooks is None


class SettleRecorder:
    """Records pika_on_settle and pika_after_delivery calls only."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def pika_on_settle(self, context: Any) -> None:
        self.calls.append(("settle", context.delivery_tag, context.multiple, context.action))
        self.calls.append(("requeue", context.requeue))

    @hookimpl
    def pika_after_delivery(self, context: DeliveryContext, exception: Any) -> None:
        self.calls.append(("after", context.api, context.body, context.delivery_tag, exception))


def test_settle_and_after_delivery_hooks(params: URLParameters) -> None:
    plugin = SettleRecorder()
    registered = plugins.register(plugin, "test-blocking-settle")
    failure = ValueError("application failed")
    try:
        with BlockingConnection(params) as conn:
            channel = conn.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            for body in (b"one", b"two", b"three"):
                channel.basic_publish("", queue, body)
            seen: list[bytes] = []

            def on_message(ch: Any, method: Any, _props: Any, body: bytes) -> None:
                seen.append(body)
                if body == b"one":
                    ch.basic_ack(method.delivery_tag)
                    plugin.calls.append(("callback returns", body))
                else:
                    raise failure

            tag = channel.basic_consume(queue, on_message, arguments={"x-priority": 0})
            with pytest.raises(ValueError):
                while len(seen) < 2:
                    conn.process_data_events(1)
            channel.basic_cancel(tag)
            channel.basic_nack(0, multiple=True, requeue=True)
            generator = channel.consume(queue, inactivity_timeout=5)
            method, _props, body = next(generator)
            assert body in (b"two", b"three")
            channel.basic_reject(method.delivery_tag, requeue=False)
            generator.close()
    finally:
        plugins.unregister(name=registered)
    calls = plugin.calls
    settle_one = calls.index(("settle", 1, False, "ack"))
    assert calls[settle_one + 1] == ("requeue", False)
    assert calls.index(("callback returns", b"one")) < calls.index(
        ("after", "basic_consume", b"one", 1, None)
    )
    assert ("after", "basic_consume", b"two", 2, failure) in calls
    assert ("settle", 0, True, "nack") in calls
    nack = calls.index(("settle", 0, True, "nack"))
    assert calls[nack + 1] == ("requeue", True)
    reject = [c for c in calls if c[0] == "settle" and c[3] == "reject"]
    assert reject == [("settle", method.delivery_tag, False, "reject")]
    after_consume = [c for c in calls if c[0] == "after" and c[1] == "consume"]
    assert after_consume == [("after", "consume", body, method.delivery_tag, None)]
    assert calls.index(reject[0]) < calls.index(after_consume[0])
