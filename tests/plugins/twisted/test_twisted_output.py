"""What TwistedProtocolConnection hands twisted's transport, without a broker.

A transport that takes bytes only and pauses its streaming producer above 64 KiB buffered (as
twisted's TCP transport does), a task.Clock for the reactor, and the server's side of the
handshake fed through dataReceived: output is written while the transport has room, held
while it is paused, written in pieces once it drains, and nothing is lost or reordered.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pika_twisted import TwistedProtocolConnection
from pika_twisted import connection as twisted_connection
from twisted.internet import error, task, tcp
from twisted.internet.interfaces import ISSLTransport
from twisted.python.failure import Failure
from zope.interface import directlyProvides

from pika_core import spec
from pika_core.frame import (
    FrameReader,
    decode_header,
    decode_method,
    encode_method,
    encode_publish,
)
from pika_core.parameters import ConnectionParameters

MIB = 1024 * 1024
PIECE = twisted_connection._PIECE
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


class PausingTransport:
    """Buffers writes (bytes only) and pauses the producer above ``limit`` buffered bytes;
    ``drain()`` sends what is buffered and resumes a paused producer, as twisted does once its
    buffer is empty."""

    def __init__(self, limit: int = 64 * 1024) -> None:
        self.limit = limit
        self.producer: Any = None
        self.paused = False
        self.writes: list[bytes] = []
        self.buffered = 0
        self.lost = False

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            raise TypeError("Data must be bytes")
        assert not self.lost, "written after loseConnection"
        self.writes.append(data)
        self.buffered += len(data)
        if self.producer is not None and not self.paused and self.buffered > self.limit:
            self.paused = True
            self.producer.pauseProducing()

    def drain(self) -> None:
        self.buffered = 0
        if self.paused:
            self.paused = False
            if self.producer is not None:
                self.producer.resumeProducing()

    def loseConnection(self) -> None:
        self.lost = True

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def everything(self) -> bytes:
        return b"".join(self.writes)


def messages(data: bytes) -> list[Any]:
    """The methods and, for publishes, (method, body) found in a client's output."""
    assert data.startswith(PROTOCOL_HEADER)
    reader = FrameReader()
    reader.frame_max = 0
    out: list[Any] = []
    body = bytearray()
    size = -1
    for kind, _channel, payload in reader.feed(data[len(PROTOCOL_HEADER) :]):
        if kind == 1:
            out.append(decode_method(payload))
        elif kind == 2:
            size = decode_header(payload)[1]
            body.clear()
            if size == 0:
                out[-1] = (out[-1], b"")
        elif kind == 3:
            body += payload
            if len(body) == size:
                out[-1] = (out[-1], bytes(body))
    return out


@pytest.fixture
def opened() -> Any:
    """A connection through its handshake with one open channel, the transport drained."""
    clock = task.Clock()
    transport = PausingTransport()
    proto = TwistedProtocolConnection(ConnectionParameters(heartbeat=0), custom_reactor=clock)
    ready: list[Any] = []
    assert proto.ready is not None
    proto.ready.addCallback(ready.append)
    proto.makeConnection(transport)  # type: ignore[arg-type]
    start = spec.Connection.Start(
        server_properties={"product": "test", "capabilities": {"publisher_confirms": True}},
        mechanisms=b"PLAIN",
        locales=b"en_US",
    )
    proto.dataReceived(encode_method(0, start))
    proto.dataReceived(encode_method(0, spec.Connection.Tune(2047, 131072, 0)))
    proto.dataReceived(encode_method(0, spec.Connection.OpenOk()))
    assert ready == [proto]
    channels: list[Any] = []
    proto.channel().addCallback(channels.append)
    clock.advance(0)
    proto.dataReceived(encode_method(1, spec.Channel.OpenOk()))
    assert len(channels) == 1
    transport.drain()
    return proto, channels[0], transport, clock


def bodies(count: int) -> list[bytes]:
    return [bytes([index]) * MIB + b"%d" % index for index in range(count)]


def test_a_small_write_into_a_free_transport_goes_straight_through(opened: Any) -> None:
    proto, channel, transport, clock = opened
    before = len(transport.writes)
    channel.basic_publish("", "q", b"x" * 64)
    clock.advance(0)
    assert len(transport.writes) == before + 1
    assert proto.connection.outbound_buffer_size == 0
    assert messages(transport.everything())[-1][1] == b"x" * 64


def test_large_messages_are_held_while_twisted_is_full_and_written_in_pieces(
    opened: Any,
) -> None:
    proto, channel, transport, clock = opened
    sent = bodies(3)
    for body in sent:
        channel.basic_publish("", "q", body)
    clock.advance(0)
    first = len(transport.writes)
    # One piece went to the free transport, which paused; the rest is held by the connection.
    assert transport.paused
    written = len(transport.writes[-1])
    assert PIECE <= written < PIECE + 132 * 1024
    held = proto.connection.outbound_buffer_size
    assert held + written >= 3 * MIB
    # Nothing more is written while twisted stays paused, even by a later publish.
    channel.basic_publish("", "q", b"small")
    clock.advance(0)
    assert len(transport.writes) == first
    small = encode_publish(1, "", "q", b"small", None, False, 131072)
    assert proto.connection.outbound_buffer_size == held + len(small)
    while transport.paused:
        transport.drain()
    assert proto.connection.outbound_buffer_size == 0
    new = transport.writes[first - 1 :]
    assert all(type(piece) is bytes for piece in new)
    assert all(len(piece) >= PIECE for piece in new[:-1])  # pieces, not frame by frame
    published = [item for item in messages(transport.everything()) if isinstance(item, tuple)]
    assert [body for _method, body in published] == [*sent, b"small"]


def test_held_output_drives_the_connections_back_pressure(opened: Any) -> None:
    proto, channel, transport, clock = opened
    connection = proto.connection
    connection.outbound_high_water_mark = 2 * MIB  # resumes at 512 KiB
    drained: list[Any] = []
    for body in bodies(4):
        channel.basic_publish("", "q", body)
    clock.advance(0)
    assert connection.is_outbound_congested
    connection.add_on_outbound_drained_callback(drained.append)
    rounds = 0
    while connection.outbound_buffer_size > 512 * 1024:
        assert drained == []
        assert connection.is_outbound_congested
        transport.drain()
        rounds += 1
    assert rounds > 4  # a piece per drain, not everything at once
    assert drained == [connection]
    assert not connection.is_outbound_congested


def test_closing_writes_everything_held_before_losing_the_connection(opened: Any) -> None:
    proto, channel, transport, clock = opened
    sent = bodies(2)
    for body in sent:
        channel.basic_publish("", "q", body)
    clock.advance(0)
    assert transport.paused
    proto.close()
    clock.advance(0)
    proto.dataReceived(encode_method(0, spec.Connection.CloseOk()))
    clock.advance(0)
    assert transport.lost
    assert proto.connection.outbound_buffer_size == 0
    out = messages(transport.everything())
    published = [item[1] for item in out if isinstance(item, tuple)]
    assert published == sent
    assert isinstance(out[-1], spec.Connection.Close)  # after the publishes, as emitted


def test_a_lost_connection_drops_what_was_held(opened: Any) -> None:
    proto, channel, transport, clock = opened
    for body in bodies(2):
        channel.basic_publish("", "q", body)
    clock.advance(0)
    assert proto.connection.outbound_buffer_size > MIB
    writes = len(transport.writes)
    proto.connectionLost(Failure(error.ConnectionLost()))
    clock.advance(0)
    assert proto.connection.outbound_buffer_size == 0
    transport.drain()  # a late resume writes nothing
    assert len(transport.writes) == writes


def test_only_a_plain_tcp_transport_is_read_directly() -> None:
    sock = socket.socket()
    try:
        transport = tcp.Connection.__new__(tcp.Connection)
        transport.socket = sock
        transport.connected = 1
        transport.disconnecting = False
        assert twisted_connection._plain_socket(transport) is sock
        transport.disconnecting = True
        assert twisted_connection._plain_socket(transport) is None
        transport.disconnecting = False
        transport.TLS = True  # startTLS() on the TCP transport
        assert twisted_connection._plain_socket(transport) is None
        transport.TLS = False
        directlyProvides(transport, ISSLTransport)
        assert twisted_connection._plain_socket(transport) is None
        # Any other transport (TLSMemoryBIOProtocol, IOCP, a test's fake) is never read.
        assert twisted_connection._plain_socket(object()) is None
    finally:
        sock.close()
