"""A scripted AMQP server for ConnectionProtocol tests: builds server frames, parses client frames.

Server frames are built with the codec (frame.encode_method / encode_header) or by hand where a
test needs malformed bytes; client output is parsed back with a FrameReader so that tests can
compare methods as well as raw bytes. Time is a plain float the test advances.
"""

from __future__ import annotations

import struct
from typing import Any, Tuple

from pika_core import spec
from pika_core.credentials import PlainCredentials
from pika_core.frame import FrameReader, decode_header, decode_method, encode_header, encode_method
from pika_core.protocol import ConnectionProtocol, events

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

#: A decoded client frame: (kind, channel, value) with kind "method", "header", "body", "heartbeat".
ClientFrame = Tuple[str, int, Any]

SERVER_PROPERTIES = {
    "product": "RabbitMQ",
    "version": "3.12.0",
    "capabilities": {
        "publisher_confirms": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "connection.blocked": True,
        "authentication_failure_close": True,
    },
}


def method_frame(channel: int, method: Any) -> bytes:
    """A server method frame."""
    return encode_method(channel, method)


def raw_frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    """Any frame, possibly malformed, built by hand."""
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([end])


def header_frame(channel: int, body_size: int, properties: Any = None, class_id: int = 60) -> bytes:
    """A content header frame; ``class_id`` other than 60 is built by hand."""
    if class_id == 60:
        return encode_header(channel, body_size, properties)
    props = (properties or spec.BasicProperties()).encode()
    return raw_frame(2, channel, struct.pack(">HHQ", class_id, 0, body_size) + props)


def body_frame(channel: int, fragment: bytes) -> bytes:
    """A content body frame."""
    return raw_frame(3, channel, fragment)


def content(
    channel: int, method: Any, body: bytes, properties: Any = None, chunk: int | None = None
) -> bytes:
    """Method, header and body frames of a message; the body split into ``chunk``-byte frames."""
    parts = [method_frame(channel, method), header_frame(channel, len(body), properties)]
    step = chunk or max(len(body), 1)
    for start in range(0, len(body), step):
        parts.append(body_frame(channel, body[start : start + step]))
    return b"".join(parts)


def parse_client(data: bytes) -> list[ClientFrame]:
    """Decode bytes the client wrote (without the protocol header) into frames."""
    reader = FrameReader()
    reader.frame_max = 0
    frames: list[ClientFrame] = []
    for frame_type, channel, payload in reader.feed(data):
        if frame_type == 1:
            frames.append(("method", channel, decode_method(payload)))
        elif frame_type == 2:
            frames.append(("header", channel, decode_header(payload)))
        elif frame_type == 3:
            frames.append(("body", channel, payload))
        else:
            frames.append(("heartbeat", channel, None))
    assert reader.buffered == 0, "the client wrote a partial frame"
    return frames


class FakeServer:
    """Drives one ConnectionProtocol as a scripted server would."""

    def __init__(self, protocol: ConnectionProtocol | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("credentials", PlainCredentials("guest", "guest"))
        self.protocol = protocol or ConnectionProtocol(**kwargs)
        self.now = 1000.0
        self.raw = b""
        self.events: list[Any] = []

    # client -> server
    def take(self) -> bytes:
        """Everything the client queued, as raw bytes (stamped with the current time)."""
        self.raw = self.protocol.data_to_send(self.now)
        return self.raw

    def frames(self) -> list[ClientFrame]:
        """Everything the client queued, decoded (the protocol header is checked and dropped)."""
        data = self.take()
        if data.startswith(b"AMQP"):
            assert data[:8] == PROTOCOL_HEADER
            data = data[8:]
        return parse_client(data)

    def methods(self) -> list[tuple[int, Any]]:
        """The (channel, method) pairs the client queued; fails on content or heartbeats."""
        result = []
        for kind, channel, value in self.frames():
            assert kind == "method", f"expected only methods, got a {kind} frame"
            result.append((channel, value))
        return result

    def method_names(self) -> list[tuple[int, str]]:
        """(channel, NAME) of every method the client queued."""
        return [(channel, method.NAME) for channel, method in self.methods()]

    # server -> client
    def send(self, *chunks: bytes) -> list[Any]:
        """Feed server bytes at the current time; return (and remember) the events."""
        self.events = self.protocol.feed(b"".join(chunks), self.now)
        return self.events

    def send_method(self, channel: int, method: Any) -> list[Any]:
        """Feed one server method."""
        return self.send(method_frame(channel, method))

    # conversations
    def handshake(
        self,
        channel_max: int = 2047,
        frame_max: int = 131072,
        heartbeat: int = 60,
        server_properties: dict | None = None,  # type: ignore[type-arg]
    ) -> list[Any]:
        """Run a complete successful handshake; return the events of open-ok."""
        self.protocol.connect()
        assert self.take() == PROTOCOL_HEADER
        self.send_method(
            0,
            spec.Connection.Start(
                server_properties=server_properties or SERVER_PROPERTIES,
                mechanisms=b"AMQPLAIN PLAIN",
                locales=b"en_US",
            ),
        )
        start_ok = self.methods()
        assert [m.NAME for _, m in start_ok] == ["Connection.StartOk"]
        self.send_method(0, spec.Connection.Tune(channel_max, frame_max, heartbeat))
        names = self.method_names()
        assert names == [(0, "Connection.TuneOk"), (0, "Connection.Open")]
        opened = self.send_method(0, spec.Connection.OpenOk())
        assert opened == [events.ConnectionOpened(self.protocol.server_properties, "")]
        return opened

    def open_channel(self, number: int = 1) -> None:
        """Open channel ``number`` through the client and the server's open-ok."""
        self.protocol.open_channel(number)
        assert self.method_names() == [(number, "Channel.Open")]
        assert self.send_method(number, spec.Channel.OpenOk()) == [events.ChannelOpened(number)]

    def close_codes(self) -> tuple[int, str]:
        """The reply code and text of the connection.close the client queued (the only frame)."""
        methods = self.methods()
        assert len(methods) == 1, methods
        channel, method = methods[0]
        assert (channel, method.NAME) == (0, "Connection.Close")
        return method.reply_code, method.reply_text


def opened(**kwargs: Any) -> FakeServer:
    """A FakeServer whose connection is open with channel 1 open."""
    handshake_args = {
        key: kwargs.pop(key)
        for key in ("server_channel_max", "server_frame_max", "server_heartbeat")
        if key in kwargs
    }
    server = FakeServer(**kwargs)
    server.handshake(
        channel_max=handshake_args.get("server_channel_max", 2047),
        frame_max=handshake_args.get("server_frame_max", 131072),
        heartbeat=handshake_args.get("server_heartbeat", 60),
    )
    server.open_channel(1)
    return server
