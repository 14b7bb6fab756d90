"""Tests of pika_core.frame: byte-exact frames, the incremental reader and the publish writer."""

from __future__ import annotations

import random
import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pika_core import frame, spec
from pika_core.exceptions import FrameError, IncompatibleProtocolError
from pika_core.frame import (
    HEARTBEAT_FRAME,
    Body,
    FrameReader,
    Header,
    Heartbeat,
    Method,
    ProtocolHeader,
    RawFrame,
    decode_frame,
    decode_header,
    decode_method,
    encode_header,
    encode_method,
    encode_publish,
)

END = b"\xce"


def frame_bytes(frame_type: int, channel: int, payload: bytes) -> bytes:
    """Build a frame by hand, independently of the code under test."""
    return bytes([frame_type]) + struct.pack(">HI", channel, len(payload)) + payload + END


def deliver_stream(count: int, body_size: int = 64) -> tuple[bytes, list[RawFrame]]:
    """A stream of basic.deliver + header + body messages and the raw frames it holds."""
    properties = spec.BasicProperties(content_type="application/json", delivery_mode=2)
    header = encode_header(1, body_size, properties)
    body = bytes(range(body_size))
    body_frame = frame_bytes(3, 1, body)
    pieces = []
    expected: list[RawFrame] = []
    for tag in range(1, count + 1):
        deliver = spec.Basic.Deliver(
            consumer_tag="ctag-1", delivery_tag=tag, exchange="ex", routing_key="rk"
        )
        method = encode_method(1, deliver)
        pieces += [method, header, body_frame]
        expected.append((1, 1, method[7:-1]))
        expected.append((2, 1, header[7:-1]))
        expected.append((3, 1, body))
    return b"".join(pieces), expected


def feed_in_slices(reader: FrameReader, data: bytes, sizes: list[int]) -> list[RawFrame]:
    out: list[RawFrame] = []
    offset = 0
    index = 0
    while offset < len(data):
        step = sizes[index % len(sizes)]
        index += 1
        out += reader.feed(data[offset : offset + step])
        offset += step
    return out


def reply_code(excinfo: Any) -> int:
    code: int = excinfo.value.reply_code
    return code


# ---------------------------------------------------------------------------------------------
# Byte-exact marshal


def test_heartbeat_marshal() -> None:
    assert Heartbeat().marshal() == b"\x08\x00\x00\x00\x00\x00\x00\xce"
    assert HEARTBEAT_FRAME == b"\x08\x00\x00\x00\x00\x00\x00\xce"
    assert Heartbeat().channel_number == 0
    assert Heartbeat().frame_type == 8


def test_protocol_header_marshal() -> None:
    assert ProtocolHeader().marshal() == b"AMQP\x00\x00\x09\x01"
    assert ProtocolHeader(1, 0, 0).marshal() == b"AMQP\x00\x01\x00\x00"
    assert ProtocolHeader().frame_type == -1


def test_body_marshal() -> None:
    assert Body(5, b"hello").marshal() == b"\x03\x00\x05\x00\x00\x00\x05hello\xce"
    assert Body(1, b"").marshal() == b"\x03\x00\x01\x00\x00\x00\x00\xce"


def test_method_marshal_basic_ack() -> None:
    method = Method(1, spec.Basic.Ack(delivery_tag=7, multiple=True))
    assert method.frame_type == 1
    assert method.marshal() == (
        b"\x01\x00\x01\x00\x00\x00\x0d\x00\x3c\x00\x50\x00\x00\x00\x00\x00\x00\x00\x07\x01\xce"
    )


def test_method_marshal_tune_ok() -> None:
    method = Method(0, spec.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=60))
    assert method.marshal() == (
        b"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1f\x07\xff\x00\x02\x00\x00\x00\x3c\xce"
    )


def test_method_marshal_publish() -> None:
    publish = spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True)
    assert encode_method(3, publish) == (
        b"\x01\x00\x03\x00\x00\x00\x0d\x00\x3c\x00\x28\x00\x00\x02ex\x02rk\x01\xce"
    )


def test_header_marshal_empty_properties() -> None:
    expected = (
        b"\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\xce"
    )
    assert Header(1, 5, spec.BasicProperties()).marshal() == expected
    assert encode_header(1, 5, None) == expected


def test_header_marshal_with_properties() -> None:
    props = spec.BasicProperties(content_type="text/plain", delivery_mode=2)
    header = Header(2, 300, props)
    assert header.frame_type == 2
    assert header.marshal() == (
        b"\x02\x00\x02\x00\x00\x00\x1a"
        b"\x00\x3c\x00\x00"
        b"\x00\x00\x00\x00\x00\x00\x01\x2c"
        b"\x90\x00"
        b"\x0atext/plain"
        b"\x02"
        b"\xce"
    )


def test_encode_publish_byte_exact() -> None:
    data = encode_publish(1, "", "q", b"hi", None, False, 131072)
    assert data == (
        b"\x01\x00\x01\x00\x00\x00\x0a\x00\x3c\x00\x28\x00\x00\x00\x01q\x00\xce"
        b"\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\xce"
        b"\x03\x00\x01\x00\x00\x00\x02hi\xce"
    )


def test_encode_publish_with_properties_matches_frame_objects() -> None:
    props = spec.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        headers={"a": 1, "b": "two"},
        message_id="m-1",
        timestamp=1700000000,
    )
    body = b"x" * 64
    expected = (
        Method(4, spec.Basic.Publish(exchange="ex", routing_key="rk")).marshal()
        + Header(4, 64, props).marshal()
        + Body(4, body).marshal()
    )
    assert encode_publish(4, "ex", "rk", body, props, False, 131072) == expected
    # a second call hits the method cache and must give the same bytes
    assert encode_publish(4, "ex", "rk", body, props, False, 131072) == expected


def test_frame_base_marshal_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        frame.Frame(1, 1).marshal()


def test_repr_and_equality() -> None:
    method = Method(1, spec.Basic.Ack(delivery_tag=3))
    assert repr(method).startswith("<METHOD([")
    assert "channel_number=1" in repr(method) and "Basic.Ack" in repr(method)
    assert "body_size=5" in repr(Header(1, 5, spec.BasicProperties()))
    assert "fragment=b'ab'" in repr(Body(1, b"ab"))
    assert "minor=9" in repr(ProtocolHeader())
    assert repr(Heartbeat()) == "<Heartbeat(['channel_number=0', 'frame_type=8'])>"
    assert Body(1, b"ab") == Body(1, b"ab")
    assert Body(1, b"ab") != Body(2, b"ab")
    assert Body(1, b"ab") != Heartbeat()
    assert method == Method(1, spec.Basic.Ack(delivery_tag=3))


# ---------------------------------------------------------------------------------------------
# decode_frame


@pytest.mark.parametrize(
    "original",
    [
        Method(1, spec.Basic.Deliver("ctag", 9, True, "ex", "rk")),
        Method(0, spec.Connection.Close(320, "forced", 0, 0)),
        Header(1, 64, spec.BasicProperties(content_type="text/plain", headers={"k": [1, "v"]})),
        Header(7, 0, spec.BasicProperties()),
        Body(1, b"payload bytes"),
        Body(65535, b""),
        Heartbeat(),
    ],
    ids=repr,
)
def test_decode_frame_round_trip(original: frame.Frame) -> None:
    data = original.marshal()
    consumed, decoded = decode_frame(data + b"\x01\x02")
    assert consumed == len(data)
    assert decoded == original
    assert type(decoded) is type(original)
    for cut in range(len(data)):
        assert decode_frame(data[:cut]) == (0, None)


def test_decode_frame_protocol_header() -> None:
    consumed, decoded = decode_frame(b"AMQP\x00\x00\x09\x01")
    assert consumed == 8
    assert isinstance(decoded, ProtocolHeader)
    assert (decoded.major, decoded.minor, decoded.revision) == (0, 9, 1)
    assert decode_frame(b"AMQP\x00\x00") == (0, None)


def test_decode_frame_accepts_bytearray_and_memoryview() -> None:
    data = Body(2, b"abc").marshal()
    assert decode_frame(bytearray(data))[1] == Body(2, b"abc")
    assert decode_frame(memoryview(data))[1] == Body(2, b"abc")


def test_decode_frame_errors() -> None:
    with pytest.raises(FrameError) as excinfo:
        decode_frame(b"\x03\x00\x01\x00\x00\x00\x01xx")
    assert reply_code(excinfo) == 501
    with pytest.raises(FrameError) as excinfo:
        decode_frame(b"\x09\x00\x01\x00\x00\x00\x00\xce")
    assert reply_code(excinfo) == 501
    with pytest.raises(FrameError) as excinfo:
        decode_frame(b"\x08\x00\x01\x00\x00\x00\x00\xce")
    assert reply_code(excinfo) == 501


# ---------------------------------------------------------------------------------------------
# decode_method / decode_header


def test_decode_method_and_header() -> None:
    deliver = spec.Basic.Deliver("ctag", 42, False, "ex", "rk")
    decoded = decode_method(encode_method(1, deliver)[7:-1])
    assert isinstance(decoded, spec.Basic.Deliver)
    assert decoded.delivery_tag == 42 and decoded.routing_key == "rk"
    props = spec.BasicProperties(message_id="id", priority=3)
    class_id, body_size, decoded_props = decode_header(encode_header(1, 99, props)[7:-1])
    assert (class_id, body_size) == (60, 99)
    assert decoded_props == props


def test_decode_method_unknown_and_short() -> None:
    with pytest.raises(FrameError) as excinfo:
        decode_method(b"\x00\x3c\x03\xe7")
    assert reply_code(excinfo) == 540
    with pytest.raises(FrameError) as excinfo:
        decode_method(b"\x00\x3c")
    assert reply_code(excinfo) == 502
    # a known method whose arguments overrun the payload is a syntax error from spec
    with pytest.raises(FrameError) as excinfo:
        decode_method(b"\x00\x3c\x00\x50\x00")
    assert reply_code(excinfo) == 502


def test_decode_header_errors() -> None:
    with pytest.raises(FrameError) as excinfo:
        decode_header(b"\x00\x3c\x00\x00")
    assert reply_code(excinfo) == 502
    with pytest.raises(FrameError) as excinfo:
        decode_header(b"\x00\x0a\x00\x00" + bytes(8) + b"\x00\x00")
    assert reply_code(excinfo) == 505
    with pytest.raises(FrameError) as excinfo:
        decode_header(b"\x03\xe7\x00\x00" + bytes(8) + b"\x00\x00")
    assert reply_code(excinfo) == 540


# ---------------------------------------------------------------------------------------------
# FrameReader


def test_reader_slices_equal_chunks() -> None:
    data, expected = deliver_stream(10_000)
    rng = random.Random(20240601)
    sizes = [rng.randint(1, 7) for _ in range(4096)]
    sliced = feed_in_slices(FrameReader(), data, sizes)
    chunked = feed_in_slices(FrameReader(), data, [1 << 20])
    whole = FrameReader().feed(data)
    assert len(expected) == 30_000
    assert sliced == expected
    assert chunked == expected
    assert whole == expected
    assert all(type(payload) is bytes for _, _, payload in sliced)


def test_reader_accepts_reused_bytearray() -> None:
    """A caller that recv_into()s one bytearray and reuses it must not corrupt buffered bytes."""
    data = Body(1, b"A" * 100).marshal()
    reader = FrameReader()
    scratch = bytearray(data[:50])
    assert reader.feed(scratch) == []
    scratch[:] = b"Z" * 50  # the caller reuses its buffer
    assert reader.feed(memoryview(bytearray(data[50:]))) == [(3, 1, b"A" * 100)]


def test_reader_buffer_bounded_by_one_frame() -> None:
    """The reader holds at most one unfinished frame, whatever the slicing."""
    reader = FrameReader()
    reader.frame_max = 131072
    big = frame_bytes(3, 1, bytes(100_000))
    small = frame_bytes(3, 1, b"s" * 10)
    data = (big + small * 50) * 5
    rng = random.Random(7)
    offset = 0
    count = 0
    while offset < len(data):
        step = rng.choice([1, 3, 7, 500, 4096, 65536])
        count += len(reader.feed(data[offset : offset + step]))
        offset += step
        assert reader.buffered < len(big)
    assert count == 255
    assert reader.buffered == 0


def _feed_time(frames: int, payload: int, step: int) -> float:
    """Best of three times to feed ``frames`` body frames in slices of ``step`` bytes."""
    data = frame_bytes(3, 1, bytes(payload)) * frames
    best = float("inf")
    for _ in range(3):
        reader = FrameReader(max_frame_size_cap=1 << 24)
        reader.frame_max = 0
        start = time.perf_counter()
        for offset in range(0, len(data), step):
            reader.feed(data[offset : offset + step])
        best = min(best, time.perf_counter() - start)
    return best


def test_reader_work_is_linear() -> None:
    """Four times the bytes must cost about four times the time (quadratic would be 16x)."""
    # many small frames in one feed: re-slicing the buffer per frame would be quadratic
    ratio_one_feed = _feed_time(160_000, 2, 1 << 30) / _feed_time(40_000, 2, 1 << 30)
    # many small frames, byte by byte
    ratio_small = _feed_time(40_000, 2, 1) / _feed_time(10_000, 2, 1)
    # one large frame in small slices: re-joining the partial frame per feed would be quadratic
    ratio_large = _feed_time(1, 4 << 20, 64) / _feed_time(1, 1 << 20, 64)
    assert ratio_one_feed < 10, ratio_one_feed
    assert ratio_small < 10, ratio_small
    assert ratio_large < 10, ratio_large


def test_reader_oversize_rejected_at_header() -> None:
    reader = FrameReader()
    # 5000 + 8 > 4096 before tune: rejected as soon as the 7 header bytes are in
    with pytest.raises(FrameError) as excinfo:
        reader.feed(b"\x01\x00\x00\x00\x00\x13\x88")
    assert reply_code(excinfo) == 501
    assert "4096" in str(excinfo.value)

    reader = FrameReader()
    reader.frame_max = 131072
    assert reader.feed(b"\x03\x00") == []
    with pytest.raises(FrameError) as excinfo:
        reader.feed(b"\x01\xff\xff\xff\xf0")  # a 4 GiB body frame, header only
    assert reply_code(excinfo) == 501
    assert "131072" in str(excinfo.value)


def test_reader_frame_max_switch() -> None:
    payload = bytes(4089)  # 4089 + 8 = 4097: one over frame-min-size
    data = frame_bytes(3, 1, payload)
    exact = frame_bytes(3, 1, bytes(4088))
    reader = FrameReader()
    assert reader.frame_max is None
    assert reader.frame_size_limit == 4096
    assert reader.feed(exact) == [(3, 1, bytes(4088))]
    with pytest.raises(FrameError):
        reader.feed(data)

    reader = FrameReader()
    reader.frame_max = 8192
    assert reader.frame_max == 8192
    assert reader.feed(data) == [(3, 1, payload)]
    assert reader.feed(frame_bytes(3, 1, bytes(8184))) == [(3, 1, bytes(8184))]
    with pytest.raises(FrameError):
        reader.feed(frame_bytes(3, 1, bytes(8185)))

    # frame_max 0: no negotiated limit, only the hard cap
    reader = FrameReader(max_frame_size_cap=100_008)
    reader.frame_max = 0
    assert reader.frame_size_limit == 100_008
    assert reader.feed(frame_bytes(3, 1, bytes(100_000))) == [(3, 1, bytes(100_000))]
    with pytest.raises(FrameError):
        reader.feed(b"\x03\x00\x01\x00\x01\x86\xa1")  # 100_001 bytes

    # a negotiated frame_max above the cap is bounded by the cap
    reader = FrameReader(max_frame_size_cap=10_000)
    reader.frame_max = 1 << 20
    assert reader.frame_size_limit == 10_000


@pytest.mark.parametrize("value", [1, 4095, -1, 1 << 32])
def test_reader_rejects_invalid_frame_max(value: int) -> None:
    with pytest.raises(ValueError):
        FrameReader().frame_max = value


def test_reader_rejects_tiny_cap() -> None:
    with pytest.raises(ValueError):
        FrameReader(max_frame_size_cap=100)


def test_reader_bad_frame_end() -> None:
    reader = FrameReader()
    assert reader.feed(b"\x03\x00\x01\x00\x00\x00\x02ab") == []
    with pytest.raises(FrameError) as excinfo:
        reader.feed(b"\x00")
    assert reply_code(excinfo) == 501
    assert "frame-end" in str(excinfo.value)


@pytest.mark.parametrize("frame_type", [0, 4, 7, 9, 65, 255])
def test_reader_unknown_type(frame_type: int) -> None:
    reader = FrameReader()
    reader.feed(HEARTBEAT_FRAME)  # past the start of the stream
    with pytest.raises(FrameError) as excinfo:
        reader.feed(bytes([frame_type]) + b"\x00\x01\x00\x00")
        reader.feed(b"\x00\x00")  # the check needs only the 7 header bytes
    assert reply_code(excinfo) == 501


def test_reader_heartbeat_on_channel_one() -> None:
    reader = FrameReader()
    assert reader.feed(HEARTBEAT_FRAME) == [(8, 0, b"")]
    with pytest.raises(FrameError) as excinfo:
        reader.feed(b"\x08\x00\x01\x00\x00\x00\x00\xce")
    assert reply_code(excinfo) == 501
    assert "channel 0" in str(excinfo.value)


def test_reader_server_protocol_header() -> None:
    reader = FrameReader()
    with pytest.raises(IncompatibleProtocolError) as excinfo:
        reader.feed(b"AMQP\x00\x00\x09\x01")
    assert excinfo.value.args[1] == (0, 9, 1)
    assert "AMQP 0-0-9-1" in excinfo.value.args[0]

    reader = FrameReader()
    for byte in b"AMQP\x01\x01\x00\x0a"[:-1]:
        assert reader.feed(bytes([byte])) == []
    with pytest.raises(IncompatibleProtocolError) as excinfo:
        reader.feed(b"\x0a")
    assert excinfo.value.args[1] == (1, 0, 10)


def test_reader_start_with_a_but_not_amqp() -> None:
    reader = FrameReader()
    assert reader.feed(b"ABC") == []
    with pytest.raises(FrameError) as excinfo:
        reader.feed(b"DEFGH")
    assert reply_code(excinfo) == 501


def test_reader_empty_feed() -> None:
    reader = FrameReader()
    assert reader.feed(b"") == []
    assert reader.feed(HEARTBEAT_FRAME[:3]) == []
    assert reader.feed(b"") == []
    assert reader.feed(HEARTBEAT_FRAME[3:]) == [(8, 0, b"")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_reader_arbitrary_bytes(data: bytes, sizes: list[int]) -> None:
    """Any input yields frames or one of the library's errors, never a raw exception."""
    reader = FrameReader()
    try:
        frames = feed_in_slices(reader, data, sizes)
    except (FrameError, IncompatibleProtocolError):
        return
    assert sum(len(payload) + 8 for _, _, payload in frames) + reader.buffered == len(data)
    for frame_type, channel, _ in frames:
        assert frame_type in (1, 2, 3, 8)
        assert frame_type != 8 or channel == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_frame_arbitrary_bytes(data: bytes) -> None:
    """decode_frame on garbage gives a frame, (0, None) or FrameError, nothing else."""
    try:
        consumed, decoded = decode_frame(data)
    except FrameError:
        return
    assert (consumed == 0) == (decoded is None)
    assert consumed <= len(data)


# ---------------------------------------------------------------------------------------------
# encode_publish: body splitting and the method cache


def reassemble(data: bytes) -> tuple[list[RawFrame], bytes]:
    reader = FrameReader()
    reader.frame_max = 0
    frames = reader.feed(data)
    assert reader.buffered == 0
    return frames, b"".join(payload for frame_type, _, payload in frames if frame_type == 3)


FRAME_MAX = 4096


@pytest.mark.parametrize(
    "size", [0, 1, FRAME_MAX - 9, FRAME_MAX - 8, FRAME_MAX - 7, 10 * 1024 * 1024]
)
@pytest.mark.parametrize("with_properties", [False, True])
def test_publish_body_split(size: int, with_properties: bool) -> None:
    body = bytes(random.Random(size).getrandbits(8) for _ in range(min(size, 9000)))
    body = (body * (size // max(len(body), 1) + 1))[:size]
    props = spec.BasicProperties(delivery_mode=2) if with_properties else None
    data = encode_publish(2, "ex", "rk", body, props, False, FRAME_MAX)
    frames, reassembled = reassemble(data)
    assert reassembled == body
    body_frames = [payload for frame_type, _, payload in frames if frame_type == 3]
    assert all(len(payload) <= FRAME_MAX - 8 for payload in body_frames)
    assert all(len(payload) == FRAME_MAX - 8 for payload in body_frames[:-1])
    assert len(body_frames) == -(-size // (FRAME_MAX - 8))
    assert [frame_type for frame_type, _, _ in frames[:2]] == [1, 2]
    assert all(channel == 2 for _, channel, _ in frames)
    class_id, body_size, decoded_props = decode_header(frames[1][2])
    assert (class_id, body_size) == (60, size)
    assert decoded_props == (props or spec.BasicProperties())
    publish = decode_method(frames[0][2])
    assert isinstance(publish, spec.Basic.Publish)
    assert (publish.exchange, publish.routing_key) == ("ex", "rk")


def test_publish_frame_max_zero_means_unlimited() -> None:
    body = bytes(200_000)
    frames, reassembled = reassemble(encode_publish(1, "", "q", body, None, False, 0))
    assert reassembled == body
    assert len(frames) == 3


def test_publish_rejects_tiny_frame_max() -> None:
    with pytest.raises(ValueError):
        encode_publish(1, "", "q", bytes(5000), None, False, 1000)


def test_publish_cache_key_and_bound() -> None:
    frame._publish_cache.clear()
    first = encode_publish(1, "ex", "rk", b"a", None, True, 131072)
    publish = decode_method(first[7:20])
    assert isinstance(publish, spec.Basic.Publish) and publish.mandatory is True
    assert encode_publish(1, "ex", "rk", b"a", None, False, 131072) != first
    assert encode_publish(2, "ex", "rk", b"a", None, True, 131072)[1:3] == b"\x00\x02"
    assert len(frame._publish_cache) == 3
    for index in range(frame.PUBLISH_CACHE_SIZE * 3):
        encode_publish(1, "ex", f"key-{index}", b"a", None, False, 131072)
        assert len(frame._publish_cache) <= frame.PUBLISH_CACHE_SIZE
    # still correct after evictions
    data = encode_publish(1, "ex", "key-5", b"a", None, False, 131072)
    publish = decode_method(reassemble(data)[0][0][2])
    assert isinstance(publish, spec.Basic.Publish) and publish.routing_key == "key-5"


def test_publish_accepts_bytearray_and_memoryview_bodies() -> None:
    for body in (bytearray(b"abc"), memoryview(b"abc")):
        assert reassemble(encode_publish(1, "", "q", body, None, False, 131072))[1] == b"abc"  # type: ignore[arg-type]


def test_good_frames_before_a_bad_one_are_returned_and_the_error_follows() -> None:
    reader = frame.FrameReader()
    good = frame.HEARTBEAT_FRAME
    bad = good[:-1] + b"\x00"  # wrong frame-end byte
    frames = reader.feed(good + good + bad)
    assert frames == [(8, 0, b""), (8, 0, b"")]
    assert isinstance(reader.pending_error, FrameError)
    assert reader.pending_error.reply_code == 501
    with pytest.raises(FrameError) as caught:
        reader.feed(good)
    assert caught.value.reply_code == 501


def test_content_header_truncated_inside_the_property_flags_is_a_syntax_error() -> None:
    for payload in (struct.pack(">HHQ", 60, 0, 5), struct.pack(">HHQ", 60, 0, 5) + b"\x80"):
        with pytest.raises(FrameError) as info:
            frame.decode_header(payload)
        assert info.value.reply_code == 502
    with pytest.raises(FrameError) as info:
        frame.decode_header(struct.pack(">HHQ", 99, 0, 5))
    assert info.value.reply_code == 540


def _deliver_payload(**fields: object) -> bytes:
    args = {
        "consumer_tag": "ctag1.abc",
        "delivery_tag": 5,
        "redelivered": False,
        "exchange": "ex",
        "routing_key": "rk",
    }
    args.update(fields)
    return frame.encode_method(1, spec.Basic.Deliver(**args))[7:-1]  # type: ignore[arg-type]


def test_cached_deliver_decoding_matches_the_generated_decoder() -> None:
    frame._consumer_tags.clear()
    frame._deliver_tails.clear()
    cases = [
        _deliver_payload(),
        _deliver_payload(delivery_tag=2**64 - 1, redelivered=True),
        _deliver_payload(routing_key="other"),
        _deliver_payload(consumer_tag="é-tag", exchange="amq.topic", routing_key="a.b.c"),
        _deliver_payload(consumer_tag="", exchange="", routing_key=""),
    ]
    for payload in cases * 2:  # the second round is served from the cache
        expected = spec.Basic.Deliver._unpack(payload, 4, len(payload))
        got = frame._unpack_deliver(payload, 4, len(payload))
        assert type(got) is spec.Basic.Deliver
        assert vars_of(got) == vars_of(expected)
    assert frame._consumer_tags and frame._deliver_tails


def vars_of(method: spec.Basic.Deliver) -> tuple[object, ...]:
    return tuple(getattr(method, name) for name in method.__slots__)


def test_cached_deliver_decoding_still_rejects_bad_payloads() -> None:
    good = _deliver_payload()
    frame._unpack_deliver(good, 4, len(good))  # cache its strings
    overrun = good[:4] + b"\xff" + good[5:]  # consumer tag longer than the payload
    with pytest.raises(FrameError):
        frame._unpack_deliver(overrun, 4, len(overrun))
    trailing = good + b"\x00"  # a tail never validated
    with pytest.raises(FrameError):
        frame._unpack_deliver(trailing, 4, len(trailing))


def test_deliver_caches_stay_bounded() -> None:
    for index in range(frame._DELIVER_CACHE_SIZE * 2 + 5):
        payload = _deliver_payload(consumer_tag=f"t{index}", routing_key=f"r{index}")
        method = frame._unpack_deliver(payload, 4, len(payload))
        assert (method.consumer_tag, method.routing_key) == (f"t{index}", f"r{index}")
    assert len(frame._consumer_tags) <= frame._DELIVER_CACHE_SIZE
    assert len(frame._deliver_tails) <= frame._DELIVER_CACHE_SIZE


def test_missing_counts_what_the_unfinished_frame_still_needs() -> None:
    reader = FrameReader()
    reader.frame_max = 131072
    data = Body(1, b"x" * 100_000).marshal()
    assert reader.missing == 0
    assert reader.feed(data[:5]) == []
    assert reader.missing == 2  # the 7-byte frame header is not complete yet
    assert reader.feed(data[5:1000]) == []
    assert reader.missing == len(data) - 1000
    frames = reader.feed(data[1000:])
    assert [bytes(payload) for _, _, payload in frames] == [b"x" * 100_000]
    assert reader.missing == 0


@pytest.mark.parametrize("size", [0, 10, 131064, 131065, 1 << 20, (1 << 20) + 7])
@pytest.mark.parametrize("frame_max", [4096, 131072, 0])
def test_publish_parts_join_to_the_publish_bytes(size: int, frame_max: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    props = spec.BasicProperties(content_type="text/plain", delivery_mode=2)
    args = (3, "ex", "rk", body, props, True, frame_max)
    parts = frame.encode_publish_parts(*args)
    assert b"".join(parts) == frame.encode_publish(*args)
    views = [part for part in parts if isinstance(part, memoryview)]
    if size > (frame_max or frame.DEFAULT_MAX_FRAME_SIZE_CAP) - 8 and frame_max != 4096:
        # The body's frames are views of it, not copies; the rest is joined around them.
        assert views and all(view.obj is body for view in views)
        assert len(parts) <= 2 * len(views) + 1
    else:
        assert not views
