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
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- the template path: deliveries laid out like the one before them -------------------------


def normalised(result: list) -> list:  # type: ignore[type-arg]
    """summary(), with closed connections and channels reduced to their reply codes
    (exceptions differ in identity, not in meaning)."""
    out = []
    for item in summary(result):
        if isinstance(item, (events.ConnectionClosed, events.ChannelClosed)):
            code = getattr(item.exception, "reply_code", None)
            out.append((type(item).__name__, getattr(item, "channel", 0), code))
        else:
            out.append(item)
    return out


def test_repeated_layout_keeps_every_varying_field() -> None:
    # Same consumer, exchange, routing key, property sizes and body size: after the first
    # message, each one is read through the template; tags, redelivered flags, property
    # values of the same length and bodies still come from each message's own bytes.
    messages = [
        content(
            1,
            spec.Basic.Deliver("ctag", tag, tag % 3 == 0, "ex", "rk"),
            bytes([tag]) * 64,
            spec.BasicProperties(message_id=f"id-{tag:04d}", delivery_mode=1 + tag % 2),
        )
        for tag in range(1, 41)
    ]
    data = b"".join(messages)
    whole = opened()
    fast = whole.send(data)
    assert whole.protocol._reader.fused == 40
    assert whole.protocol._reader._template is not None
    slow = feed_each_frame(opened(), data)
    assert summary(fast) == summary(slow)
    assert [(e.method.delivery_tag, e.method.redelivered) for e in fast][:3] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert [e.properties.message_id for e in fast][-1] == "id-0040"
    assert [e.properties.delivery_mode for e in fast][:2] == [2, 1]
    assert fast[-1].body == bytes([40]) * 64


# What can differ between a delivery and the template it matches, spoiled after the bytes the
# template compares: each must end the connection as the frame-by-frame path does.
TEMPLATE_BAD = {
    "bad header frame-end": (501, lambda d: d[: -1 - 7 - 3 - 1] + b"\x00" + d[-1 - 7 - 3 :]),
    "bad body frame-end": (501, lambda d: d[:-1] + b"\x00"),
    "body on another channel": (505, lambda d: d[: -1 - 3 - 7 + 1] + b"\x00\x02" + d[-1 - 3 - 4 :]),
    "body longer than announced": (
        505,
        lambda d: d[: -1 - 3 - 4] + struct.pack(">I", 4) + b"abcd\xce",
    ),
}


@pytest.mark.parametrize("name", sorted(TEMPLATE_BAD))
@pytest.mark.parametrize("split", [False, True])
def test_a_message_spoiled_after_the_template_bytes(name: str, split: bool) -> None:
    code, spoil = TEMPLATE_BAD[name]
    first = content(1, deliver(1), b"abc")
    second = spoil(content(1, deliver(2), b"xyz"))
    server = opened()
    server.open_channel(2)
    if split:
        result = feed_each_frame(server, first + second)
    else:
        result = server.send(first + second)
        assert server.protocol._reader._template is not None
    assert [e.method.delivery_tag for e in result[:1]] == [1]
    expect_code(result, code)


def test_malformed_properties_of_the_template_size_are_a_syntax_error() -> None:
    good = spec.BasicProperties(content_type="abc")
    first = content(1, deliver(1), b"abc", good)
    second = content(1, deliver(2), b"xyz", good)
    # The content type's length byte (3) now points past the end of the properties.
    at = second.index(b"\x03abc")
    bad = second[:at] + b"\x09" + second[at + 1 :]
    result = opened().send(first + bad)
    assert result[0].method.delivery_tag == 1
    expect_code(result, 502)


def test_templates_stop_being_rebuilt_for_layouts_that_never_repeat() -> None:
    from pika_core import frame

    data = b"".join(
        content(1, spec.Basic.Deliver("c", tag, False, "ex", "k" * tag), b"b" * tag)
        for tag in range(1, 30)
    )
    server = opened()
    result = server.send(data)
    assert [e.method.routing_key for e in result] == ["k" * tag for tag in range(1, 30)]
    assert server.protocol._reader._template_budget < 0  # rebuilds spent, none used
    # A layout that starts repeating gets its template at the next try, and the rebuilds back
    # once that template is used.
    again = b"".join(content(1, deliver(tag), b"x") for tag in range(1, 101))
    result = server.send(again)
    assert [e.method.delivery_tag for e in result] == list(range(1, 101))
    assert server.protocol._reader._template_budget == frame._TEMPLATE_REBUILDS


_LAYOUTS = st.tuples(
    st.integers(1, 2),  # channel
    st.sampled_from(["ctag", "other", "ctag-long-name"]),
    st.sampled_from([("", "q"), ("ex", "rk"), ("ex", "rk2")]),
    st.sampled_from([None, spec.BasicProperties(content_type="text"), PROPS]),
    st.sampled_from([1, 3, 64, 300]),  # body size (300 becomes two body frames of 200 + 100)
    st.booleans(),  # redelivered
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_LAYOUTS, min_size=1, max_size=30),
    st.lists(st.integers(1, 400), min_size=1, max_size=10),
    st.integers(0, 1 << 20),
)
def test_fused_and_templated_reads_match_frame_by_frame(
    layouts: list,
    sizes: list,
    spoil: int,  # type: ignore[type-arg]
) -> None:
    parts = []
    for tag, (channel, ctag, (exchange, key), props, size, redelivered) in enumerate(layouts, 1):
        method = spec.Basic.Deliver(ctag, tag, redelivered, exchange, key)
        parts.append(content(channel, method, bytes([tag % 256]) * size, props, chunk=200))
    data = b"".join(parts)
    variants = [data]
    if spoil % 3 == 0:  # also one byte changed: both paths must agree on what follows
        position = spoil % len(data)
        variants.append(data[:position] + bytes([data[position] ^ 0x5A]) + data[position + 1 :])
    for sample in variants:
        whole = opened()
        whole.open_channel(2)
        fast = []
        offset = 0
        index = 0
        while offset < len(sample):
            size = sizes[index % len(sizes)]
            fast.extend(whole.send(sample[offset : offset + size]))
            offset += size
            index += 1
        each = opened()
        each.open_channel(2)
        assert normalised(fast) == normalised(feed_frames_as_sized(each, sample))


def feed_frames_as_sized(server: FakeServer, data: bytes) -> list:  # type: ignore[type-arg]
    """feed_each_frame for any bytes: one read per frame as its (maybe spoiled) size says."""
    result = []
    offset = 0
    while offset < len(data):
        end = len(data)
        if len(data) - offset >= 7:
            end = min(end, offset + 8 + struct.unpack_from(">I", data, offset + 3)[0])
        result.extend(server.protocol.feed(data[offset:end], server.now))
        offset = end
    return result
