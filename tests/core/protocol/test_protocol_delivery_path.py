"""The one-step delivery path (deliver, header and one body frame in one read) against the
frame-by-frame path: the same events for good input, the same reply codes for bad input."""

from __future__ import annotations

import struct

import pytest
from fake_amqp_server import (
    FakeServer,
    body_frame,
    content,
    header_frame,
    method_frame,
    opened,
    raw_frame,
)

from pika_core import exceptions, spec
from pika_core.protocol import events

PROPS = spec.BasicProperties(
    content_type="application/json", delivery_mode=2, headers={"a": 1, "b": "x"}
)


def deliver(tag: int, consumer_tag: str = "ctag") -> spec.Basic.Deliver:
    return spec.Basic.Deliver(consumer_tag, tag, False, "ex", "rk")


def feed_each_frame(server: FakeServer, data: bytes) -> list:  # type: ignore[type-arg]
    """Feed ``data`` frame by frame (one frame per read: the frame-by-frame path)."""
    result = []
    offset = 0
    while offset < len(data):
        size = struct.unpack_from(">I", data, offset + 3)[0]
        end = offset + 8 + size
        result.extend(server.protocol.feed(data[offset:end], server.now))
        offset = end
    return result


def summary(result: list) -> list:  # type: ignore[type-arg]
    out = []
    for event in result:
        if isinstance(event, events.Delivery):
            m, p = event.method, event.properties
            out.append(
                (event.channel, m.consumer_tag, m.delivery_tag, m.routing_key, p, event.body)
            )
        else:
            out.append(event)
    return out


def stream() -> bytes:
    """Deliveries in every shape: one body frame, no properties, split body, empty body, and
    two channels interleaved, with a confirm-free method in between."""
    return b"".join(
        (
            content(1, deliver(1), b"a" * 64, PROPS),
            content(1, deliver(2), b"b" * 10),
            content(1, deliver(3), b"c" * 300, PROPS, chunk=100),
            content(1, deliver(4), b""),
            content(2, deliver(1, "other"), b"d" * 5, PROPS),
            method_frame(1, spec.Basic.Cancel("ctag")),
            content(2, deliver(2, "other"), b"e" * 7),
        )
    )


def test_one_read_gives_the_same_events_as_frame_by_frame() -> None:
    whole = opened()
    whole.open_channel(2)
    each = opened()
    each.open_channel(2)
    data = stream()
    fast = whole.send(data)
    slow = feed_each_frame(each, data)
    assert summary(fast) == summary(slow)
    assert [type(e).__name__ for e in fast].count("Delivery") == 6
    assert fast[0].properties.headers == {"a": 1, "b": "x"}
    assert fast[0].body == b"a" * 64
    assert fast[2].body == b"c" * 300
    assert fast[3].body == b""
    # Both protocols are still open and in the same state: the next message works in each.
    more = content(1, deliver(9), b"z")
    assert summary(whole.send(more)) == summary(each.send(more))


def test_message_split_across_reads_at_every_byte() -> None:
    data = content(1, deliver(1), b"payload", PROPS) + content(1, deliver(2), b"second")
    for cut in range(1, len(data)):
        server = opened()
        result = server.send(data[:cut]) + server.send(data[cut:])
        assert [(e.method.delivery_tag, e.body) for e in result] == [
            (1, b"payload"),
            (2, b"second"),
        ]


def expect_code(result: list, code: int) -> None:  # type: ignore[type-arg]
    assert result and isinstance(result[-1], events.ConnectionClosed)
    exc = result[-1].exception
    assert isinstance(exc, exceptions.FrameError), exc
    assert exc.reply_code == code, exc
    assert not exc.reply_text.startswith("internal error"), exc


# Malformed messages whose three frames all arrive in one read (the one-step path's input).
BAD = {
    "header payload too short": (502, lambda: raw_frame(2, 1, b"\x00\x3c\x00")),
    "properties overrun": (
        502,
        lambda: raw_frame(2, 1, struct.pack(">HHQH", 60, 0, 3, 0x8000) + b"\x05ab"),
    ),
    "properties with trailing bytes": (
        502,
        lambda: raw_frame(2, 1, struct.pack(">HHQH", 60, 0, 3, 0) + b"\x00"),
    ),
    "header class differs": (505, lambda: header_frame(1, 3, class_id=50)),
    "body longer than announced": (505, lambda: header_frame(1, 2)),
    "header on another channel": (505, lambda: header_frame(2, 3)),
    "empty body announced, body frame sent": (505, lambda: header_frame(1, 0)),
    "body over max_inbound_message_size": (501, lambda: header_frame(1, 3)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_message_in_one_read(name: str) -> None:
    code, header = BAD[name]
    limit = 2 if name == "body over max_inbound_message_size" else 1000
    server = opened(max_inbound_message_size=limit)
    server.open_channel(2)
    result = server.send(method_frame(1, deliver(1)), header(), body_frame(1, b"abc"))
    expect_code(result, code)


def test_body_on_another_channel_after_a_good_header() -> None:
    server = opened()
    server.open_channel(2)
    result = server.send(method_frame(1, deliver(1)), header_frame(1, 3), body_frame(2, b"abc"))
    expect_code(result, 505)


def test_fused_deliveries_count_three_frames_each() -> None:
    whole = opened()
    each = opened()
    data = content(1, deliver(1), b"a" * 64, PROPS) + content(1, deliver(2), b"b")
    before_whole = whole.protocol.frames_received
    before_each = each.protocol.frames_received
    whole.send(data)
    assert whole.protocol._reader.fused == 2  # both took the one-step path
    feed_each_frame(each, data)
    assert whole.protocol.frames_received - before_whole == 6
    assert each.protocol.frames_received - before_each == 6


def test_delivery_to_a_closing_channel_is_dropped_in_one_read_too() -> None:
    results = []
    for split in (False, True):
        server = opened()
        server.protocol.close_channel(1)
        server.take()
        data = content(1, deliver(1), b"late")
        result = feed_each_frame(server, data) if split else server.send(data)
        assert server.protocol._reader.fused == (0 if split else 1)
        results.append(result)
        assert server.protocol.is_open
        # The channel still closes normally afterwards.
        closed = server.send_method(1, spec.Channel.CloseOk())
        assert [type(e).__name__ for e in closed] == ["ChannelClosed"]
    assert results == [[], []]


def test_whole_delivery_while_a_previous_message_is_unfinished_is_505() -> None:
    server = opened()
    server.send(method_frame(1, deliver(1)))  # content expected from here on
    result = server.send(content(1, deliver(2), b"abc"))
    expect_code(result, 505)
    assert "Basic.Deliver on channel 1" in result[-1].exception.reply_text


@pytest.mark.parametrize("split", [False, True])
def test_malformed_deliver_method_with_good_content_gives_the_same_code(split: bool) -> None:
    # The consumer-tag length byte points past the end of the method payload.
    bad = raw_frame(1, 1, b"\x00\x3c\x00\x3c\x40ctag")
    server = opened()
    data = bad + header_frame(1, 3) + body_frame(1, b"abc")
    result = feed_each_frame(server, data) if split else server.send(data)
    expect_code(result, 502)


def test_frame_reader_fuses_only_when_asked() -> None:
    from pika_core.frame import FrameReader

    data = content(1, deliver(7), b"xyz", PROPS)
    plain = FrameReader()
    assert [f[0] for f in plain.feed(data)] == [1, 2, 3]
    assert plain.fused == 0
    fusing = FrameReader()
    fusing.fuse = events.Delivery
    (entry,) = fusing.feed(data)
    assert type(entry) is events.Delivery
    number, method, properties, body = entry
    assert (number, method.delivery_tag, method.routing_key, body) == (1, 7, "rk", b"xyz")
    assert properties.headers == {"a": 1, "b": "x"}
    assert fusing.fused == 1


def test_delivery_on_an_unknown_channel_in_one_read_is_504() -> None:
    for split in (False, True):
        server = opened()
        data = content(9, deliver(1), b"abc")
        result = feed_each_frame(server, data) if split else server.send(data)
        expect_code(result, 504)


def test_no_fusing_before_the_connection_is_open() -> None:
    server = FakeServer()
    server.protocol.connect()
    server.take()
    server.send_method(
        0, spec.Connection.Start(mechanisms=b"PLAIN", locales=b"en_US", server_properties={})
    )
    server.send_method(0, spec.Connection.Tune(2047, 131072, 0))
    # open-ok and a delivery in one read: the delivery is judged frame by frame (channel 1 was
    # never opened), not decoded ahead by the reader.
    result = server.send(method_frame(0, spec.Connection.OpenOk()) + content(1, deliver(1), b"x"))
    assert server.protocol._reader.fused == 0
    assert type(result[0]).__name__ == "ConnectionOpened"
    expect_code(result, 504)
