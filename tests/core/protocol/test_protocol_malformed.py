"""robustness.md section 1: every malformed input gives connection.close with the right code."""

from __future__ import annotations

import struct
from typing import Callable

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

DELIVER = spec.Basic.Deliver("ctag", 1, False, "ex", "rk")


def expect_close(server: FakeServer, result: list, code: int) -> str:  # type: ignore[type-arg]
    """The terminal events and the connection.close bytes carry ``code``; returns the text."""
    assert result, "no events"
    assert isinstance(result[-1], events.ConnectionClosed)
    exc = result[-1].exception
    assert isinstance(exc, exceptions.FrameError), exc
    assert exc.reply_code == code, exc
    assert not exc.reply_text.startswith("internal error"), exc
    closed_channels = [e.channel for e in result[:-1] if isinstance(e, events.ChannelClosed)]
    assert closed_channels == [1]
    assert all(e.exception is exc for e in result[:-1])
    reply_code, reply_text = server.close_codes()
    assert (reply_code, reply_text) == (code, exc.reply_text)
    assert server.protocol.is_closed
    # Further input is ignored, and nothing else is written.
    assert server.send(method_frame(0, spec.Connection.CloseOk())) == []
    assert server.take() == b""
    return exc.reply_text


CASES: dict[str, tuple[int, Callable[[], bytes]]] = {
    # 501 FRAME_ERROR
    "bad frame end": (501, lambda: raw_frame(1, 1, b"\x00\x3c\x00\x50" + bytes(9), end=0xCD)),
    "unknown frame type": (501, lambda: raw_frame(4, 1, b"")),
    "frame over frame_max": (501, lambda: raw_frame(3, 1, bytes(131072 - 7))),
    "heartbeat on channel 1": (501, lambda: raw_frame(8, 1, b"")),
    "body_size over max_inbound_message_size": (
        501,
        lambda: method_frame(1, DELIVER) + header_frame(1, 10_000_001),
    ),
    # 502 SYNTAX_ERROR
    "method payload too short": (502, lambda: raw_frame(1, 1, b"\x00\x3c")),
    "truncated method arguments": (502, lambda: raw_frame(1, 1, b"\x00\x3c\x00\x50\x00")),
    "method with trailing bytes": (
        502,
        lambda: raw_frame(1, 1, method_frame(1, spec.Basic.Ack(0))[7:-1] + b"\x00"),
    ),
    # 503 COMMAND_INVALID
    "connection.start after open": (503, lambda: method_frame(0, spec.Connection.Start())),
    "client-side method from the server": (503, lambda: method_frame(1, spec.Basic.Publish())),
    "connection method on a channel": (503, lambda: method_frame(1, spec.Connection.Blocked("x"))),
    "channel method on channel 0": (503, lambda: method_frame(0, spec.Channel.OpenOk())),
    "close-ok without close": (503, lambda: method_frame(0, spec.Connection.CloseOk())),
    "channel close-ok without close": (503, lambda: method_frame(1, spec.Channel.CloseOk())),
    "second channel open-ok": (503, lambda: method_frame(1, spec.Channel.OpenOk())),
    # 504 CHANNEL_ERROR
    "channel above channel_max": (504, lambda: method_frame(2048, spec.Channel.OpenOk())),
    "channel not open": (504, lambda: content(5, DELIVER, b"x")),
    # 505 UNEXPECTED_FRAME
    "body before header": (505, lambda: method_frame(1, DELIVER) + body_frame(1, b"x")),
    "body without method": (505, lambda: body_frame(1, b"x")),
    "header without method": (505, lambda: header_frame(1, 1)),
    "second header": (505, lambda: method_frame(1, DELIVER) + header_frame(1, 2) * 2),
    "new method mid-content": (
        505,
        lambda: method_frame(1, DELIVER) + header_frame(1, 5) + method_frame(1, DELIVER),
    ),
    "method before header": (505, lambda: method_frame(1, DELIVER) * 2),
    "too many body bytes": (
        505,
        lambda: (
            method_frame(1, DELIVER)
            + header_frame(1, 4)
            + body_frame(1, b"abc")
            + body_frame(1, b"de")
        ),
    ),
    "header class differs from method class": (
        505,
        lambda: method_frame(1, DELIVER) + header_frame(1, 1, class_id=50),
    ),
    "content header on channel 0": (505, lambda: header_frame(0, 1)),
    # 540 NOT_IMPLEMENTED
    "unknown method id": (540, lambda: raw_frame(1, 1, struct.pack(">HH", 60, 999))),
    "unknown class id": (540, lambda: raw_frame(1, 1, struct.pack(">HH", 999, 10))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_closes_with_reply_code(name: str) -> None:
    code, build = CASES[name]
    server = opened(max_inbound_message_size=10_000_000)
    expect_close(server, server.send(build()), code)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_fed_byte_by_byte(name: str) -> None:
    code, build = CASES[name]
    server = opened(max_inbound_message_size=10_000_000)
    data = build()
    result = []
    for i in range(len(data)):
        result.extend(server.protocol.feed(data[i : i + 1], server.now))
        if result:
            break
    expect_close(server, result, code)


def test_valid_frames_before_the_bad_one_are_delivered_in_the_same_feed() -> None:
    server = opened()
    result = server.send(content(1, DELIVER, b"ok"), body_frame(1, b"x"))
    # The reader parses the whole read before dispatch; the delivery still comes out first.
    assert isinstance(result[0], events.Delivery) and result[0].body == b"ok"
    expect_close(server, result[1:], 505)


def test_frame_over_4096_before_tune_is_rejected() -> None:
    server = FakeServer()
    server.protocol.connect()
    server.take()
    result = server.send(raw_frame(1, 0, bytes(4090)))
    assert result[-1].exception.reply_code == 501
    assert server.close_codes()[0] == 501


def test_message_size_is_checked_at_the_header_before_any_body() -> None:
    server = opened(max_inbound_message_size=1000)
    assert server.send(method_frame(1, DELIVER)) == []
    result = server.send(header_frame(1, 1001))
    text = expect_close(server, result, 501)
    assert "1001" in text and "max_inbound_message_size" in text
    assert server.protocol.inbound_buffered == 0
