"""TwistedProtocolConnection against the broker: the scenarios of the asynchronous suite,
written with Deferreds (tests/core/async_ holds the callback-API version)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any, Callable, Generator

import pytest
from pika_twisted import (
    ClosableDeferredQueue,
    ReceivedMessage,
    TwistedChannel,
    TwistedProtocolConnection,
)
from pika_twisted import connection as twisted_connection
from twisted.internet import defer, protocol, task

import pika_core.adapters.twisted_connection as pika_module
from pika_core import exceptions, spec
from pika_core.parameters import ConnectionParameters, URLParameters

pytestmark = pytest.mark.broker

Gen = Generator[Any, Any, Any]


def _name(prefix: str) -> str:
    return f"pika-core-twisted-{prefix}-{uuid.uuid4().hex[:8]}"


class Broker:
    """Connects TwistedProtocolConnections to the test broker and closes them afterwards."""

    def __init__(self, reactor: Any, url: str) -> None:
        self.reactor = reactor
        self.url = url
        self.connections: list[TwistedProtocolConnection] = []

    def params(self, **overrides: Any) -> URLParameters:
        params = URLParameters(self.url)
        for key, value in overrides.items():
            setattr(params, key, value)
        return params

    @defer.inlineCallbacks
    def connect(self, host: str = "", port: int = 0, **overrides: Any) -> Gen:
        params = self.params(**overrides)
        creator = protocol.ClientCreator(self.reactor, TwistedProtocolConnection, params)
        proto = yield creator.connectTCP(host or params.host, port or params.port)
        self.connections.append(proto)
        conn = yield proto.ready
        return conn

    @defer.inlineCallbacks
    def channel(self, **overrides: Any) -> Gen:
        conn = yield self.connect(**overrides)
        ch = yield conn.channel()
        return ch

    def close_all(self) -> None:
        for conn in self.connections:
            if conn.is_open:
                conn.close()


@pytest.fixture
def broker(reactor: Any, reactor_run: Callable[..., Any], amqp_url: str) -> Any:
    b = Broker(reactor, amqp_url)
    yield b

    def close() -> defer.Deferred[Any]:
        b.close_all()
        return task.deferLater(reactor, 0.1, lambda: None)

    reactor_run(close)


class Caught:
    """A failure turned into a value, so that a test can yield it and look at it."""

    def __init__(self, failure: Any) -> None:
        self.failure = failure
        self.value = failure.value
        self.type = failure.type

    def check(self, *types: Any) -> Any:
        return self.failure.check(*types)


def sleep(reactor: Any, seconds: float) -> defer.Deferred[Any]:
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def temp_queue(ch: TwistedChannel, **arguments: Any) -> Gen:
    frame = yield ch.queue_declare("", exclusive=True, arguments=arguments or None)
    return frame.method.queue


# ---------------------------------------------------------------------------------------------


def test_pika_module_path_serves_the_plugin() -> None:
    assert pika_module.TwistedProtocolConnection is TwistedProtocolConnection
    assert pika_module.TwistedChannel is TwistedChannel
    assert pika_module.ClosableDeferredQueue is ClosableDeferredQueue
    assert pika_module.ReceivedMessage is ReceivedMessage


def test_ready_then_channels_open_and_close(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        conn = yield broker.connect()
        assert isinstance(conn, TwistedProtocolConnection) and conn.is_open
        assert conn.connection.server_properties["product"] in ("RabbitMQ", b"RabbitMQ")
        channels = yield defer.gatherResults([conn.channel() for _ in range(3)])
        assert len({ch.channel_number for ch in channels}) == 3
        assert all(ch.is_open for ch in channels)
        reason = yield channels[0].close()
        assert isinstance(reason, exceptions.ChannelClosedByClient)
        assert channels[0].is_closed and channels[1].is_open
        failure = yield channels[0].queue_declare("x").addErrback(Caught)
        assert failure.check(exceptions.ChannelClosedByClient)
        closed = yield conn.close()
        assert isinstance(closed, exceptions.ConnectionClosedByClient)
        assert closed.reply_code == 200
        assert conn.is_closed and channels[1].is_closed
        return True

    assert reactor_run(scenario) is True


def test_declare_bind_unbind_delete(broker: Broker, reactor_run: Any) -> None:
    ex1, ex2, queue = _name("ex1"), _name("ex2"), _name("q")

    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        frames = []
        frames.append((yield ch.exchange_declare(ex1, "topic", auto_delete=True)))
        frames.append((yield ch.exchange_declare(ex2, "fanout", auto_delete=True)))
        frames.append((yield ch.exchange_bind(ex2, ex1, "a.#")))
        frames.append((yield ch.queue_declare(queue, auto_delete=True)))
        frames.append((yield ch.queue_bind(queue, ex2)))
        yield ch.basic_publish(ex1, "a.b", b"routed")
        yield sleep(broker.reactor, 0.2)
        got = yield ch.basic_get(queue, auto_ack=True)
        frames.append((yield ch.queue_unbind(queue, ex2)))
        frames.append((yield ch.exchange_unbind(ex2, ex1, "a.#")))
        purge = yield ch.queue_purge(queue)
        frames.append((yield ch.queue_delete(queue)))
        frames.append((yield ch.exchange_delete(ex2)))
        frames.append((yield ch.exchange_delete(ex1)))
        return [f.method.NAME for f in frames], got.body, purge.method.message_count

    names, body, purged = reactor_run(scenario)
    assert names == [
        "Exchange.DeclareOk",
        "Exchange.DeclareOk",
        "Exchange.BindOk",
        "Queue.DeclareOk",
        "Queue.BindOk",
        "Queue.UnbindOk",
        "Exchange.UnbindOk",
        "Queue.DeleteOk",
        "Exchange.DeleteOk",
        "Exchange.DeleteOk",
    ]
    assert body == b"routed" and purged == 0


def test_publish_consume_ack_nack_reject(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        props = spec.BasicProperties(content_type="text/plain", headers={"n": 1})
        for body in (b"one", b"two", b"three"):
            yield ch.basic_publish("", queue, body, props)
        messages, tag = yield ch.basic_consume(queue)
        assert tag in ch.consumer_tags
        seen = []
        for _ in range(3):
            msg = yield messages.get()
            assert msg.channel is ch
            seen.append((msg.body, msg.method.redelivered, msg.properties.headers))
            if msg.body == b"one":
                ch.basic_ack(msg.method.delivery_tag)
            elif msg.body == b"two":
                ch.basic_nack(msg.method.delivery_tag, requeue=True)
            else:
                ch.basic_reject(msg.method.delivery_tag, requeue=False)
        again = yield messages.get()
        ch.basic_ack(again.method.delivery_tag)
        yield ch.basic_cancel(tag)
        failure = yield messages.get().addErrback(Caught)
        assert failure.check(exceptions.ConsumerCancelled)
        left = yield ch.queue_declare(queue, passive=True)
        return seen, (again.body, again.method.redelivered), left.method.message_count

    seen, again, left = reactor_run(scenario)
    assert seen == [
        (b"one", False, {"n": 1}),
        (b"two", False, {"n": 1}),
        (b"three", False, {"n": 1}),
    ]
    assert again == (b"two", True)
    assert left == 0


def test_a_burst_of_deliveries_reaches_waiting_gets_in_order(
    broker: Broker, reactor_run: Any
) -> None:
    """Deliveries read together wake the waiting get()s once the read is dispatched: two gets
    issued before the burst take the first two messages, the rest follow in order."""

    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        for i in range(300):
            ch.basic_publish("", queue, b"%d" % i)
        yield ch.queue_declare(queue, passive=True)  # the broker holds them all
        messages, tag = yield ch.basic_consume(queue)
        first, second = messages.get(), messages.get()
        bodies = [(yield first).body, (yield second).body]
        while len(bodies) < 300:
            msg = yield messages.get()
            bodies.append(msg.body)
        ch.basic_ack(msg.method.delivery_tag, multiple=True)
        yield ch.basic_cancel(tag)
        left = yield ch.queue_declare(queue, passive=True)
        return bodies, left.method.message_count

    bodies, left = reactor_run(scenario)
    assert bodies == [b"%d" % i for i in range(300)]
    assert left == 0


def test_prefetch_limits_unacked_deliveries(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        yield ch.basic_qos(prefetch_count=2)
        for i in range(5):
            ch.basic_publish("", queue, b"%d" % i)
        messages, _tag = yield ch.basic_consume(queue)
        yield sleep(broker.reactor, 0.5)
        held = len(messages.pending)
        first = yield messages.get()
        ch.basic_ack(first.method.delivery_tag)
        yield sleep(broker.reactor, 0.3)
        return held, len(messages.pending)

    assert reactor_run(scenario) == (2, 2)


def test_basic_get_and_get_empty(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        empty = yield ch.basic_get(queue)
        yield ch.basic_publish("", queue, b"fetched")
        yield sleep(broker.reactor, 0.1)
        pending = ch.basic_get(queue)
        with pytest.raises(exceptions.DuplicateGetOkCallback):
            ch.basic_get(queue)
        msg = yield pending
        ch.basic_ack(msg.method.delivery_tag)
        return empty, msg

    empty, msg = reactor_run(scenario)
    assert empty is None
    assert isinstance(msg, ReceivedMessage)
    assert msg.body == b"fetched" and msg.method.NAME == "Basic.GetOk"
    assert msg.method.message_count == 0


def test_large_message_round_trip(broker: Broker, reactor_run: Any) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: many body frames

    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        ch.basic_publish("", queue, payload)
        messages, _tag = yield ch.basic_consume(queue, auto_ack=True)
        msg = yield messages.get()
        return msg.body

    assert reactor_run(scenario) == payload


def test_a_burst_of_large_messages_arrives_whole_and_in_order(
    broker: Broker, reactor_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 24 MiB published in one reactor turn: more than twisted's buffer takes at once, so most
    # of it waits in the connection and goes out in pieces as twisted drains.
    payloads = [bytes([index]) * (1024 * 1024) + b"%d" % index for index in range(24)]
    # On the way back, the bodies are read from the socket straight into place: count those
    # bytes.
    direct = [0]
    plain_socket = twisted_connection._plain_socket

    class CountingReads:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def recv_into(self, buffer: Any) -> int:
            nbytes = self.sock.recv_into(buffer)
            direct[0] += nbytes
            return nbytes

    def counting(transport: Any) -> Any:
        sock = plain_socket(transport)
        return None if sock is None else CountingReads(sock)

    monkeypatch.setattr(twisted_connection, "_plain_socket", counting)

    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        yield ch.confirm_delivery()
        confirmed = defer.gatherResults([ch.basic_publish("", queue, p) for p in payloads])
        yield confirmed
        messages, _tag = yield ch.basic_consume(queue, auto_ack=True)
        received = []
        for _ in payloads:
            msg = yield messages.get()
            received.append(msg.body)
        return received

    assert reactor_run(scenario, timeout=60) == payloads
    # Not through twisted's 64 KiB reads and a copy each: most of every body was read in place.
    assert direct[0] > 16 * 1024 * 1024


def test_confirms_ack(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        yield ch.confirm_delivery()
        acks = yield defer.gatherResults([ch.basic_publish("", queue, b"m") for _ in range(50)])
        return acks

    acks = reactor_run(scenario)
    assert len(acks) == 50
    assert all(a.NAME == "Basic.Ack" for a in acks)


def test_confirms_nack_when_queue_rejects(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch, **{"x-max-length": 1, "x-overflow": "reject-publish"})
        yield ch.confirm_delivery()
        outcomes = []
        for body in (b"1", b"2", b"3"):
            result = yield ch.basic_publish("", queue, body).addErrback(Caught)
            outcomes.append(result.NAME if hasattr(result, "NAME") else result.type)
        return outcomes

    assert reactor_run(scenario) == ["Basic.Ack", exceptions.NackError, exceptions.NackError]


def test_mandatory_unroutable_errbacks_with_the_returned_message(
    broker: Broker, reactor_run: Any
) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        yield ch.confirm_delivery()
        routed = ch.basic_publish("", queue, b"routed", mandatory=True)
        lost = ch.basic_publish("", _name("nowhere"), b"lost", mandatory=True)
        ok = yield routed
        failure = yield lost.addErrback(Caught)
        return ok, failure

    ok, failure = reactor_run(scenario)
    assert ok.NAME == "Basic.Ack"
    assert failure.check(exceptions.UnroutableError)
    (message,) = failure.value.messages
    assert isinstance(message, ReceivedMessage)
    assert message.body == b"lost" and message.method.reply_code == 312


def test_consumer_cancel_notification_when_queue_deleted(broker: Broker, reactor_run: Any) -> None:
    queue = _name("cancel")

    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        other = yield broker.channel()
        yield ch.queue_declare(queue, auto_delete=False)
        messages, tag = yield ch.basic_consume(queue)
        yield other.queue_delete(queue)
        failure = yield messages.get().addErrback(Caught)
        return failure, tag, ch.consumer_tags

    failure, tag, tags = reactor_run(scenario)
    assert failure.check(exceptions.ConsumerCancelled)
    assert tag not in tags


def test_channel_closed_by_broker(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        failure = yield ch.queue_declare(_name("missing"), passive=True).addErrback(Caught)
        reason = yield ch.on_closed
        later = yield ch.basic_publish("", "x", b"y").addErrback(Caught)
        return failure, reason, later, ch.is_closed

    failure, reason, later, closed = reactor_run(scenario)
    assert failure.check(exceptions.ChannelClosedByBroker)
    assert failure.value.reply_code == 404
    assert reason is failure.value
    assert later.check(exceptions.ChannelClosedByBroker)
    assert closed


def test_add_callback_threadsafe_from_another_thread(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        ch = yield broker.channel()
        queue = yield temp_queue(ch)
        loop_thread = threading.get_ident()
        done: defer.Deferred[Any] = defer.Deferred()

        def on_loop() -> None:
            ch.basic_publish("", queue, b"from a thread")
            done.callback(threading.get_ident() == loop_thread)

        threading.Thread(
            target=lambda: ch.connection._adapter_add_callback_threadsafe(on_loop)
        ).start()
        same_thread = yield done
        messages, _tag = yield ch.basic_consume(queue, auto_ack=True)
        msg = yield messages.get()
        return same_thread, msg.body

    assert reactor_run(scenario) == (True, b"from a thread")


def test_refused_connect_and_bad_credentials_fail_ready(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        params = broker.params()
        params.credentials = type(params.credentials)("guest", "wrong-password")
        creator = protocol.ClientCreator(broker.reactor, TwistedProtocolConnection, params)
        proto = yield creator.connectTCP(params.host, params.port)
        failure = yield proto.ready.addErrback(Caught)
        closed = yield proto.closed
        return failure, closed

    failure, closed = reactor_run(scenario)
    assert failure.check(exceptions.ProbableAuthenticationError)
    assert isinstance(closed, exceptions.ProbableAuthenticationError)


def test_connection_close_fails_pending_calls(broker: Broker, reactor_run: Any) -> None:
    @defer.inlineCallbacks
    def scenario() -> Gen:
        conn = yield broker.connect()
        ch = yield conn.channel()
        queue = yield temp_queue(ch)
        messages, _tag = yield ch.basic_consume(queue)
        waiting = messages.get()
        pending_channel = conn.channel()
        closed = yield conn.close()
        get_failure = yield waiting.addErrback(Caught)
        channel_failure = yield pending_channel.addErrback(Caught)
        return closed, get_failure, channel_failure

    closed, get_failure, channel_failure = reactor_run(scenario)
    assert isinstance(closed, exceptions.ConnectionClosedByClient)
    assert get_failure.check(exceptions.ChannelClosedByClient, exceptions.ConnectionClosed)
    assert channel_failure.check(exceptions.ChannelClosedByClient, exceptions.ConnectionClosed)


def test_heartbeat_timeout_with_a_silent_peer(broker: Broker, reactor_run: Any) -> None:
    from support.fake_server import SilentPeerServer

    times: dict[str, float] = {}

    with SilentPeerServer(heartbeat=1) as server:

        @defer.inlineCallbacks
        def scenario() -> Gen:
            params = ConnectionParameters(host="127.0.0.1", port=server.port, heartbeat=1)
            creator = protocol.ClientCreator(broker.reactor, TwistedProtocolConnection, params)
            proto = yield creator.connectTCP("127.0.0.1", server.port)
            yield proto.ready
            times["open"] = time.monotonic()
            proto.channel().addErrback(lambda f: None)  # traffic the peer never answers
            reason = yield proto.closed
            times["closed"] = time.monotonic()
            return reason

        reason = reactor_run(scenario, timeout=10)
    assert isinstance(reason, exceptions.AMQPHeartbeatTimeout), reason
    assert times["closed"] - times["open"] <= 2 * 1 + 1


def test_broker_closing_the_connection_reaches_closed(broker: Broker, reactor_run: Any) -> None:
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from async_suite import load_suite

    _conftest, scenarios = load_suite()
    name = _name("conn")

    @defer.inlineCallbacks
    def scenario() -> Gen:
        conn = yield broker.connect(client_properties={"connection_name": name})
        ch = yield conn.channel()
        scenarios._close_by_name(name)
        reason = yield conn.closed
        channel_reason = yield ch.on_closed
        return reason, channel_reason

    reason, channel_reason = reactor_run(scenario, timeout=60)
    assert isinstance(reason, exceptions.ConnectionClosedByBroker)
    assert reason.reply_code == 320
    assert channel_reason is reason
