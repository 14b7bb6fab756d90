"""The sans-I/O protocol core against the real RabbitMQ: a test-only socket loop drives it.

These prove that what the byte-exact tests assume is what a broker actually does: the
handshake and tune, a refused login, an unknown vhost, a confirmed publish that comes back
through basic.get with its properties, and both close handshakes.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any, Callable

import pytest

from pika_core import exceptions, spec
from pika_core.credentials import PlainCredentials
from pika_core.parameters import URLParameters
from pika_core.protocol import (
    ChannelOpened,
    Confirmation,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionProtocol,
    RPCReply,
)

pytestmark = pytest.mark.broker

# Generous guard: a healthy local broker answers in milliseconds.
WAIT_SECONDS = 15.0


class BrokerLink:
    """One TCP connection to the broker, pumping bytes between it and a ConnectionProtocol."""

    def __init__(self, url: str, **overrides: Any) -> None:
        params = URLParameters(url)
        settings: dict[str, Any] = {
            "credentials": params.credentials,
            "virtual_host": params.virtual_host,
            "heartbeat": 30,
        }
        settings.update(overrides)
        self.protocol = ConnectionProtocol(**settings)
        self.sock = socket.create_connection((params.host, params.port), timeout=WAIT_SECONDS)
        self.events: list[Any] = []
        self.protocol.connect()

    def close_socket(self) -> None:
        self.sock.close()

    def _flush(self) -> None:
        data = self.protocol.data_to_send()
        if data:
            self.sock.sendall(data)

    def wait_for(self, predicate: Callable[[Any], bool]) -> Any:
        """Pump until an event matches; return it (events before it stay in self.events)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            for index, event in enumerate(self.events):
                if predicate(event):
                    del self.events[index]
                    return event
            self._flush()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {WAIT_SECONDS}s: {self.events}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            now = time.monotonic()
            if data:
                self.events += self.protocol.feed(data, now)
            else:
                self.events += self.protocol.connection_lost(None, now)
                self._flush_quietly()
                if not any(predicate(event) for event in self.events):
                    raise AssertionError(f"the broker closed the socket; events: {self.events}")

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except OSError:
            pass

    def opened(self) -> ConnectionOpened:
        event = self.wait_for(lambda e: isinstance(e, (ConnectionOpened, ConnectionClosed)))
        assert isinstance(event, ConnectionOpened), f"the handshake failed: {event!r}"
        return event

    def closed(self) -> ConnectionClosed:
        event = self.wait_for(lambda e: isinstance(e, ConnectionClosed))
        self._flush_quietly()
        self.close_socket()
        assert isinstance(event, ConnectionClosed)
        return event

    def rpc(self, channel: int, method: Any, reply_type: type) -> RPCReply:
        self.protocol.rpc(channel, method)
        reply = self.wait_for(lambda e: isinstance(e, RPCReply) and e.channel == channel)
        assert isinstance(reply.method, reply_type), reply
        return reply  # type: ignore[no-any-return]


def _url_with(amqp_url: str, *, password: str | None = None, vhost: str | None = None) -> str:
    scheme, rest = amqp_url.split("://", 1)
    userinfo, hostpart = rest.rsplit("@", 1) if "@" in rest else ("guest:guest", rest)
    user = userinfo.split(":", 1)[0]
    secret = password if password is not None else userinfo.split(":", 1)[1]
    host = hostpart.split("/", 1)[0]
    path = hostpart.split("/", 1)[1] if "/" in hostpart else "%2F"
    return f"{scheme}://{user}:{secret}@{host}/{vhost if vhost is not None else path}"


def test_handshake_negotiates_and_client_close_completes(amqp_url: str) -> None:
    link = BrokerLink(amqp_url, heartbeat=7, channel_max=100)
    opened = link.opened()
    properties = opened.server_properties or {}
    assert properties.get("product") == "RabbitMQ"
    assert link.protocol.is_open
    assert link.protocol.server_capabilities.get("publisher_confirms") is True

    closing = link.protocol.close()
    assert isinstance(closing, list)
    closed = link.closed()
    assert isinstance(closed.exception, exceptions.ConnectionClosedByClient)
    assert closed.exception.reply_code == 200


def test_confirmed_publish_comes_back_with_its_properties(amqp_url: str) -> None:
    link = BrokerLink(amqp_url)
    link.opened()
    link.protocol.open_channel(1)
    link.wait_for(lambda e: isinstance(e, ChannelOpened) and e.channel == 1)

    queue = f"pika-core-test-{uuid.uuid4().hex}"
    declared = link.rpc(1, spec.Queue.Declare(queue=queue, exclusive=True), spec.Queue.DeclareOk)
    assert declared.method.queue == queue
    link.rpc(1, spec.Confirm.Select(), spec.Confirm.SelectOk)

    body = bytes(range(256)) * 1200  # spans several frames at the default frame_max
    properties = spec.BasicProperties(
        content_type="application/octet-stream",
        delivery_mode=2,
        headers={"attempt": 1, "source": "pika-core"},
        message_id="m-1",
    )
    sequence = link.protocol.publish(1, "", queue, body, properties)
    assert sequence == 1
    confirmation = link.wait_for(lambda e: isinstance(e, Confirmation))
    assert isinstance(confirmation.method, spec.Basic.Ack)
    assert confirmation.method.delivery_tag == 1

    got = link.rpc(1, spec.Basic.Get(queue=queue, no_ack=True), spec.Basic.GetOk)
    assert got.body == body
    assert got.properties.content_type == "application/octet-stream"
    assert got.properties.delivery_mode == 2
    assert got.properties.headers == {"attempt": 1, "source": "pika-core"}
    assert got.properties.message_id == "m-1"

    link.protocol.close()
    assert isinstance(link.closed().exception, exceptions.ConnectionClosedByClient)


def test_broker_channel_close_reaches_the_channel(amqp_url: str) -> None:
    link = BrokerLink(amqp_url)
    link.opened()
    link.protocol.open_channel(1)
    link.wait_for(lambda e: isinstance(e, ChannelOpened))
    missing = f"pika-core-missing-{uuid.uuid4().hex}"
    link.protocol.rpc(1, spec.Queue.Declare(queue=missing, passive=True))
    closed = link.wait_for(lambda e: type(e).__name__ == "ChannelClosed" and e.channel == 1)
    assert isinstance(closed.exception, exceptions.ChannelClosedByBroker)
    assert closed.exception.reply_code == 404
    assert link.protocol.is_open

    link.protocol.close()
    assert isinstance(link.closed().exception, exceptions.ConnectionClosedByClient)


def test_refused_login_is_reported_as_pika_reports_it(amqp_url: str) -> None:
    link = BrokerLink(_url_with(amqp_url, password="not-the-password"))
    closed = link.closed()
    assert isinstance(
        closed.exception,
        (exceptions.ProbableAuthenticationError, exceptions.AuthenticationError),
    )
    assert "not-the-password" not in repr(closed.exception)
    assert "not-the-password" not in str(closed.exception)


def test_unknown_vhost_is_reported_as_pika_reports_it(amqp_url: str) -> None:
    link = BrokerLink(_url_with(amqp_url, vhost=f"no-such-vhost-{uuid.uuid4().hex}"))
    closed = link.closed()
    assert isinstance(
        closed.exception,
        (exceptions.ProbableAccessDeniedError, exceptions.ConnectionClosedByBroker),
    )


def test_credentials_object_is_used_as_given(amqp_url: str) -> None:
    params = URLParameters(amqp_url)
    assert isinstance(params.credentials, PlainCredentials)
    link = BrokerLink(amqp_url, credentials=params.credentials)
    link.opened()
    link.protocol.close()
    assert isinstance(link.closed().exception, exceptions.ConnectionClosedByClient)
