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
