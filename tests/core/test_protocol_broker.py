"""ConnectionProtocol against the real RabbitMQ, driven by a tiny blocking socket loop."""

from __future__ import annotations

import socket
import time
import urllib.parse
from typing import Any, Callable

import pytest

from pika_core import exceptions, spec
from pika_core.credentials import PlainCredentials
from pika_core.protocol import ConnectionProtocol, events

pytestmark = pytest.mark.broker

TIMEOUT = 10.0


class Driver:
    """Owns a socket and a protocol; pumps bytes until a wanted event shows up."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        parts = urllib.parse.urlsplit(url)
        kwargs.setdefault(
            "credentials", PlainCredentials(parts.username or "guest", parts.password or "guest")
        )
        self.protocol = ConnectionProtocol(**kwargs)
        self.sock = socket.create_connection((parts.hostname, parts.port or 5672), timeout=TIMEOUT)
        self.sock.settimeout(0.2)
        self.backlog: list[Any] = []
        self.protocol.connect()
        self.flush()

    def flush(self) -> None:
        data = self.protocol.data_to_send(time.monotonic())
        if data:
            self.sock.sendall(data)

    def pump_once(self) -> None:
        """One loop turn: heartbeats, one read (or timeout), then flush."""
        proto = self.protocol
        now = time.monotonic()
        deadline = proto.next_deadline()
        if deadline is not None and now >= deadline:
            self.backlog.extend(proto.tick(now))
        self.flush()
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except OSError as exc:
            self.backlog.extend(proto.connection_lost(exc, time.monotonic()))
            return
        if data:
            self.backlog.extend(proto.feed(data, time.monotonic()))
        else:
            self.backlog.extend(proto.connection_lost(None, time.monotonic()))
        self.flush()

    def wait(self, predicate: Callable[[Any], bool]) -> Any:
        """Return (and remove) the first event matching ``predicate``."""
        limit = time.monotonic() + TIMEOUT
        while time.monotonic() < limit:
            for index, event in enumerate(self.backlog):
                if predicate(event):
                    return self.backlog.pop(index)
            if self.protocol.is_closed:
                raise AssertionError(f"connection ended while waiting: {self.backlog}")
            self.pump_once()
        raise AssertionError(f"timed out; events so far: {self.backlog}")

    def wait_type(self, kind: type, channel: int | None = None) -> Any:
        return self.wait(
            lambda e: isinstance(e, kind) and (channel is None or e.channel == channel)
        )

    def rpc(self, channel: int, method: Any) -> Any:
        self.protocol.rpc(channel, method)
        self.flush()
        return self.wait_type(events.RPCReply, channel)

    def terminal(self) -> Any:
        limit = time.monotonic() + TIMEOUT
        while time.monotonic() < limit:
            for event in self.backlog:
                if isinstance(event, events.ConnectionClosed):
                    return event
            self.pump_once()
        raise AssertionError(f"no terminal event: {self.backlog}")

    def close(self) -> None:
        self.sock.close()


def test_full_conversation(amqp_url: str) -> None:
    driver = Driver(amqp_url, heartbeat=lambda server: min(server, 30) if server else 30)
    try:
        opened = driver.wait_type(events.ConnectionOpened)
        proto = driver.protocol
        assert opened.server_properties["product"] == "RabbitMQ"
        assert proto.heartbeat == 30 and proto.next_deadline() is not None
        assert proto.server_capabilities.get("publisher_confirms") is True

        number = proto.next_free_channel()
        proto.open_channel(number)
        driver.flush()
        assert driver.wait_type(events.ChannelOpened) == events.ChannelOpened(number)

        declare = driver.rpc(number, spec.Queue.Declare(queue="", exclusive=True))
        queue = declare.method.queue
        assert queue.startswith("amq.gen-")

        driver.rpc(number, spec.Confirm.Select())
        sequence = [
            proto.publish(number, "", queue, b"message %d" % i, spec.BasicProperties(priority=1))
            for i in range(100)
        ]
        assert sequence == list(range(1, 101))
        driver.flush()
        acked: set = set()  # type: ignore[type-arg]
        while len(acked) < 100:
            confirmation = driver.wait_type(events.Confirmation, number)
            assert confirmation.method.NAME == "Basic.Ack"
            tag = confirmation.method.delivery_tag
            if confirmation.method.multiple:
                acked.update(t for t in range(1, tag + 1))
            else:
                acked.add(tag)
        assert acked == set(range(1, 101))

        consume = driver.rpc(number, spec.Basic.Consume(queue=queue, consumer_tag="ct-1"))
        assert consume.method.consumer_tag == "ct-1"
        bodies = []
        for _ in range(100):
            delivery = driver.wait_type(events.Delivery, number)
            bodies.append(delivery.body)
            proto.basic_ack(number, delivery.method.delivery_tag)
        driver.flush()
        assert bodies == [b"message %d" % i for i in range(100)]
        cancel = driver.rpc(number, spec.Basic.Cancel(consumer_tag="ct-1"))
        assert cancel.method.NAME == "Basic.CancelOk"

        empty = driver.rpc(number, spec.Basic.Get(queue=queue))
        assert empty.method.NAME == "Basic.GetEmpty"

        proto.publish(number, "", queue, b"got me")
        driver.flush()
        driver.wait_type(events.Confirmation, number)
        got = driver.rpc(number, spec.Basic.Get(queue=queue, no_ack=True))
        assert got.method.NAME == "Basic.GetOk" and got.body == b"got me"

        # A channel error: passive declare of a missing queue.
        errored = proto.next_free_channel()
        proto.open_channel(errored)
        driver.flush()
        driver.wait_type(events.ChannelOpened, errored)
        proto.rpc(errored, spec.Queue.Declare(queue="pika-core-missing-queue", passive=True))
        driver.flush()
        closed = driver.wait_type(events.ChannelClosed, errored)
        assert isinstance(closed.exception, exceptions.ChannelClosedByBroker)
        assert closed.exception.reply_code == 404
        assert [m.NAME for m in closed.pending] == ["Queue.Declare"]
        assert proto.channel_state(errored) is None

        proto.close_channel(number)
        driver.flush()
        closed = driver.wait_type(events.ChannelClosed, number)
        assert isinstance(closed.exception, exceptions.ChannelClosedByClient)

        proto.close()
        driver.flush()
        end = driver.terminal()
        assert isinstance(end.exception, exceptions.ConnectionClosedByClient)
        assert end.exception.reply_code == 200
    finally:
        driver.close()


def test_wrong_password_is_probable_authentication_error(amqp_url: str) -> None:
    driver = Driver(amqp_url, credentials=PlainCredentials("guest", "definitely-wrong"))
    try:
        end = driver.terminal()
        assert isinstance(end.exception, exceptions.ProbableAuthenticationError)
        assert "403" in end.exception.args[0]
        driver.flush()  # the close-ok goes out
    finally:
        driver.close()


def test_unknown_vhost_is_probable_access_denied(amqp_url: str) -> None:
    driver = Driver(amqp_url, virtual_host="pika-core-no-such-vhost")
    try:
        end = driver.terminal()
        assert isinstance(end.exception, exceptions.ProbableAccessDeniedError)
        assert "530" in end.exception.args[0]
    finally:
        driver.close()
