"""Large bodies: body frames of 64 KiB and more arrive piece by piece (FrameReader) and their
payload may be received straight into the message (inbound_target / inbound_written), with
the same events, frame counts and reply codes as frame-by-frame reading."""

from __future__ import annotations

import random
import struct

import pytest
from fake_amqp_server import body_frame, content, opened
from hypothesis import given, settings
from hypothesis import strategies as st

from pika_core import exceptions, spec
from pika_core.frame import FrameReader
from pika_core.protocol import events

FRAME_MAX = 131072
BODY = bytes(random.Random(7).getrandbits(8) for _ in range(1 << 20))


def message(tag: int, body: bytes = BODY, channel: int = 1) -> bytes:
    """A delivery of ``body`` cut into body frames as RabbitMQ does (frame_max - 8 each)."""
    method = spec.Basic.Deliver("ctag", tag, False, "ex", "rk")
    return content(channel, method, body, spec.BasicProperties(), chunk=FRAME_MAX - 8)


def frame_count(data: bytes) -> int:
    count = offset = 0
    while offset < len(data):
        offset += 8 + struct.unpack_from(">I", data, offset + 3)[0]
        count += 1
    return count


def feed_in_reads(server, data: bytes, sizes: list[int], direct: bool, spill: int = 0) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Feed ``data`` as reads of the given sizes (cycled); with ``direct``, whenever the
    protocol offers a target, receive into it as a transport would; with ``spill``, ask for a
    target that goes on past the payload (the protocol takes what a read put there)."""
    protocol = server.protocol
    result = []
    offset = index = 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        index += 1
        room = protocol.inbound_missing - 1
        target = protocol.inbound_target(spill) if direct and protocol.inbound_streaming else None
        if target is not None:
            assert room <= len(target) <= room + spill
            count = min(size, len(target), len(data) - offset)
            target[:count] = data[offset : offset + count]
            result.extend(protocol.inbound_written(count, server.now))
        else:
            if protocol.inbound_streaming:
                size = min(size, protocol.inbound_missing + 7)
            count = min(size, len(data) - offset)
            result.extend(protocol.feed(data[offset : offset + count], server.now))
        offset += count
    return result


@pytest.mark.parametrize(
    ("direct", "spill"), [(False, 0), (True, 0), (True, 4096)], ids=["fed", "direct", "spill"]
)
@pytest.mark.parametrize("read", [1000, 65536, 100_000, 262144])
def test_large_bodies_come_whole_and_frames_are_counted_once(
    direct: bool, spill: int, read: int
) -> None:
    server = opened()
    data = message(1) + message(2, BODY[:300_000]) + message(3)
    before = server.protocol.frames_received
    result = feed_in_reads(server, data, [read], direct, spill)
    assert [(e.method.delivery_tag, e.body) for e in result] == [
        (1, BODY),
        (2, BODY[:300_000]),
        (3, BODY),
    ]
    assert all(type(e.body) is bytes for e in result)
    assert server.protocol.frames_received - before == frame_count(data)
    assert server.protocol.bytes_received >= len(data)
    assert not server.protocol.inbound_streaming
    assert server.protocol.inbound_missing == 0


def test_a_message_completes_only_with_its_last_frame_end() -> None:
    server = opened()
    body = BODY[: 2 * (FRAME_MAX - 8)]  # two full body frames
    data = message(1, body)
    protocol = server.protocol
    assert protocol.feed(data[:-1], server.now) == []  # everything but the last frame-end
    assert protocol.inbound_streaming and protocol.inbound_missing == 1
    assert protocol.inbound_target() is None  # the last byte comes through feed()
    (delivery,) = protocol.feed(data[-1:], server.now)
    assert delivery.body == body


def test_the_body_buffer_is_reused_and_bodies_stay_intact() -> None:
    server = opened()
    protocol = server.protocol
    first = feed_in_reads(server, message(1), [50_000], direct=True)
    spare = protocol._spare_buffer
    assert spare is not None and len(BODY) <= len(spare) <= len(BODY) + 8192
    second = feed_in_reads(server, message(2, BODY[::-1]), [50_000], direct=True)
    # The second message was written into the first one's buffer, and the first body (bytes
    # of its own) did not change.
    assert protocol._spare_buffer is spare
    assert first[0].body == BODY
    assert second[0].body == BODY[::-1]


def test_a_bad_frame_end_after_streamed_payload_is_501_and_nothing_is_delivered() -> None:
    server = opened()
    data = bytearray(message(1))
    first_end = 8 + struct.unpack_from(">I", data, 3)[0]  # after the method frame
    first_end += 8 + struct.unpack_from(">I", data, first_end + 3)[0]  # after the header
    body_end = first_end + 7 + FRAME_MAX - 8
    assert data[body_end] == 0xCE
    data[body_end] = 0x00
    result = feed_in_reads(server, bytes(data), [30_000], direct=True)
    assert_closed(result, 501)


def assert_closed(result: list, code: int) -> None:  # type: ignore[type-arg]
    """The connection closed with ``code``, and no message came before."""
    assert not [e for e in result if isinstance(e, events.Delivery)]
    assert isinstance(result[-1], events.ConnectionClosed)
    exc = result[-1].exception
    assert isinstance(exc, exceptions.FrameError) and exc.reply_code == code


def test_body_frames_past_the_announced_size_are_505_whether_streamed_or_fed() -> None:
    for direct in (False, True):
        server = opened()
        header_and_method = message(1, BODY[:100_000])[: -(7 + 100_000 + 1)]
        data = header_and_method + body_frame(1, BODY[:70_000]) + body_frame(1, BODY[:70_000])
        result = feed_in_reads(server, data, [20_000], direct)
        assert_closed(result, 505)


def test_no_target_for_a_closing_channel_and_its_content_is_dropped() -> None:
    server = opened()
    server.protocol.close_channel(1)
    server.take()
    data = message(1)
    result = feed_in_reads(server, data, [40_000], direct=True)
    assert result == []
    assert server.protocol.is_open


def test_reader_pieces_concatenate_to_the_payload() -> None:
    reader = FrameReader()
    reader.frame_max = FRAME_MAX
    reader.fuse = events.Delivery
    payload = BODY[: FRAME_MAX - 8]
    frame = body_frame(5, payload)
    pieces = []
    counts = []
    for start in range(0, len(frame), 9000):
        out = reader.feed(frame[start : start + 9000])
        pieces += out
        counts.append(reader.pieces)
    assert b"".join(bytes(p) for _, _, p in pieces) == payload
    assert {channel for _, channel, _ in pieces} == {5}
    assert sum(counts) == len(pieces) - 1  # the last piece is the frame
    assert not reader.streaming and reader.missing == 0
    with pytest.raises(ValueError, match="streamed"):
        reader.streamed(1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 200_000), min_size=1, max_size=8),
    st.lists(st.sampled_from([10, 70_000, 131_064, 131_065, 300_000]), min_size=1, max_size=4),
    st.booleans(),
    st.sampled_from([0, 8, 4096, 100_000]),
)
def test_any_reads_give_what_frame_by_frame_gives(
    sizes: list[int], lengths: list[int], direct: bool, spill: int
) -> None:
    data = b"".join(message(tag, BODY[:length]) for tag, length in enumerate(lengths, 1))
    result = feed_in_reads(opened(), data, sizes, direct, spill)
    assert [(e.method.delivery_tag, e.body) for e in result] == [
        (tag, BODY[:length]) for tag, length in enumerate(lengths, 1)
    ]


@pytest.mark.parametrize(
    ("direct", "spill"), [(False, 0), (True, 0), (True, 4096)], ids=["fed", "direct", "spill"]
)
def test_two_channels_interleaving_large_body_frames(direct: bool, spill: int) -> None:
    server = opened()
    server.open_channel(2)
    size = 2 * (FRAME_MAX - 8)
    first, second = BODY[:size], BODY[size : 2 * size]

    def frames(data: bytes) -> list[bytes]:
        out, offset = [], 0
        while offset < len(data):
            end = offset + 8 + struct.unpack_from(">I", data, offset + 3)[0]
            out.append(data[offset:end])
            offset = end
        return out

    one = frames(message(1, first, channel=1))  # method, header, two body frames
    two = frames(message(7, second, channel=2))
    data = b"".join(one[:2] + two[:2] + [one[2], two[2], one[3], two[3]])
    result = feed_in_reads(server, data, [50_000, 3, 90_000, 140_000], direct, spill)
    assert [(e.channel, e.method.delivery_tag, e.body) for e in result] == [
        (1, 1, first),
        (2, 7, second),
    ]


def test_a_spilling_target_goes_past_the_payload_only_as_far_as_the_body_buffer() -> None:
    server = opened()
    protocol = server.protocol
    body = BODY[:70_000]  # one body frame: its payload is the end of the body
    data = message(1, body)
    start = len(data) - (7 + len(body) + 1)
    protocol.feed(data[: start + 7 + 1000], server.now)  # the frame header and 1,000 bytes
    assert protocol.inbound_streaming and protocol.inbound_missing == len(body) - 1000 + 1
    room = len(body) - 1000
    plain = protocol.inbound_target()
    assert plain is not None and len(plain) == room
    spilling = protocol.inbound_target(4096)
    assert spilling is not None and len(spilling) == room + 4096
    buffer = spilling.obj
    assert isinstance(buffer, bytearray) and plain.obj is buffer
    widest = protocol.inbound_target(1 << 20)
    assert widest is not None and len(widest) == len(buffer) - 1000  # up to the buffer's end
    # A read that took the payload's rest, its frame-end and a heartbeat after it.
    after = b"\xce" + b"\x08\x00\x00\x00\x00\x00\x00\xce"
    spilling[: room + len(after)] = data[start + 7 + 1000 :] + after[1:]
    (delivery,) = protocol.inbound_written(room + len(after), server.now)
    assert delivery.body == body
