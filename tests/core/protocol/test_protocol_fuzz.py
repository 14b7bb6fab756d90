"""Property tests: random and mutated server streams never make feed() raise, only documented
events come out, and the protocol's buffered memory stays bounded."""

from __future__ import annotations

from typing import Any

from fake_amqp_server import body_frame, content, header_frame, method_frame, opened, raw_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pika_core import exceptions, spec
from pika_core.protocol import events

FRAME_MAX = 4096
MAX_MESSAGE = 20_000

DOCUMENTED = (
    events.ConnectionOpened,
    events.ConnectionClosed,
    events.ConnectionBlocked,
    events.ConnectionUnblocked,
    events.ChannelOpened,
    events.ChannelClosed,
    events.RPCReply,
    events.Delivery,
    events.Returned,
    events.Confirmation,
    events.ConsumerCancelled,
    events.FlowChanged,
)
TERMINAL_ERRORS = (
    exceptions.FrameError,
    exceptions.ConnectionClosedByBroker,
)


def _default_methods() -> list[Any]:
    """One default-argument instance of every spec method that encodes as it is."""
    result = []
    for cls in spec.methods.values():
        try:
            method = cls()
            method.encode()
        except Exception:  # noqa: BLE001, S112 - some methods need arguments; skip them
            continue
        result.append(method)
    return result


DEFAULT_METHODS = _default_methods()

channels = st.sampled_from([0, 1, 1, 1, 2, 3, 2048])
bodies = st.binary(max_size=3 * FRAME_MAX)


@st.composite
def plausible_frames(draw: st.DrawFn) -> bytes:
    """A frame or a message that a server might send, valid or a little off."""
    channel = draw(channels)
    kind = draw(st.integers(min_value=0, max_value=9))
    if kind == 0:
        method = spec.Basic.Deliver("ctag", draw(st.integers(1, 50)), False, "ex", "rk")
        body = draw(bodies)
        return content(channel, method, body, chunk=draw(st.integers(1, FRAME_MAX - 8)))
    if kind == 1:
        return method_frame(channel, draw(st.sampled_from(DEFAULT_METHODS)))
    if kind == 2:
        return header_frame(channel, draw(st.integers(0, 2 * MAX_MESSAGE)))
    if kind == 3:
        return body_frame(channel, draw(st.binary(max_size=FRAME_MAX)))
    if kind == 4:
        tag = draw(st.integers(0, 10))
        ack = spec.Basic.Ack(tag, draw(st.booleans()))
        nack = spec.Basic.Nack(tag, draw(st.booleans()), False)
        return method_frame(channel, draw(st.sampled_from([ack, nack])))
    if kind == 5:
        return raw_frame(
            draw(st.integers(0, 255)),
            draw(st.integers(0, 65535)),
            draw(st.binary(max_size=64)),
            end=draw(st.sampled_from([0xCE, 0xCE, 0x00])),
        )
    if kind == 6:
        returned = spec.Basic.Return(312, "NO_ROUTE", "ex", "rk")
        return content(channel, returned, draw(st.binary(max_size=100)))
    if kind == 7:
        return method_frame(channel, spec.Channel.Flow(active=draw(st.booleans())))
    if kind == 8:
        return method_frame(0, spec.Connection.Blocked(reason="mem"))
    return draw(st.binary(max_size=32))


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Plausible frames joined, then a few byte-level mutations."""
    data = bytearray(b"".join(draw(st.lists(plausible_frames(), min_size=1, max_size=12))))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        op = draw(st.integers(0, 2))
        at = draw(st.integers(0, len(data) - 1))
        if op == 0:
            data[at] = draw(st.integers(0, 255))
        elif op == 1:
            del data[at]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def prepare_conversation() -> Any:
    """An open connection with traffic in flight: confirms, a pending get, a queued RPC."""
    server = opened(server_frame_max=FRAME_MAX, max_inbound_message_size=MAX_MESSAGE)
    server.open_channel(2)
    proto = server.protocol
    proto.rpc(1, spec.Confirm.Select(nowait=True))
    for _ in range(5):
        proto.publish(1, "", "q", b"payload")
    proto.rpc(2, spec.Basic.Get(queue="q"))
    proto.rpc(2, spec.Queue.Declare(queue="q"))
    server.take()
    return server


def check_events(result: list[Any], already_closed: bool) -> bool:
    """Assert the events are documented and well ordered; return whether the end was seen."""
    for position, event in enumerate(result):
        assert isinstance(event, DOCUMENTED), event
        assert not already_closed, f"event after the terminal one: {event}"
        if isinstance(event, events.ConnectionClosed):
            assert position == len(result) - 1
            exc = event.exception
            assert isinstance(exc, TERMINAL_ERRORS), repr(exc)
            if isinstance(exc, exceptions.FrameError):
                assert exc.reply_code in (501, 502, 503, 504, 505, 540), exc
                assert not exc.reply_text.startswith("internal error"), exc
            for earlier in result[:position]:
                if isinstance(earlier, events.ChannelClosed) and earlier.exception is not exc:
                    # Only a broker channel.close may precede the end with its own exception.
                    assert isinstance(earlier.exception, exceptions.ChannelClosedByBroker)
            already_closed = True
    return already_closed


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=streams(), cuts=st.lists(st.integers(1, 5000), max_size=8))
def test_random_streams_yield_only_documented_events(data: bytes, cuts: list[int]) -> None:
    server = prepare_conversation()
    proto = server.protocol
    closed = False
    position = 0
    for size in [*cuts, len(data)]:
        chunk = data[position : position + size]
        position += size
        result = proto.feed(chunk, server.now)
        closed = check_events(result, closed)
        # Memory: one unfinished frame at most, and partial messages under the size limit.
        assert proto._reader.buffered <= FRAME_MAX
        for channel in proto._channels.values():
            assert channel.content_received <= MAX_MESSAGE
            assert sum(len(part) for part in channel.content_parts) == channel.content_received
        assert proto.inbound_buffered <= FRAME_MAX + 3 * MAX_MESSAGE
        if position >= len(data):
            break
    if closed:
        assert proto.is_closed
        assert proto.feed(data or b"x", server.now) == []
    # Whatever happened, a lost stream now ends everything cleanly once.
    end = proto.connection_lost(None, server.now + 1)
    if closed:
        assert end == []
    else:
        assert isinstance(end[-1], events.ConnectionClosed)
        assert isinstance(end[-1].exception, exceptions.StreamLostError)
        assert all(isinstance(e, events.ChannelClosed) for e in end[:-1])
    assert proto.is_closed


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_garbage_during_the_handshake(data: bytes) -> None:
    server = opened.__globals__["FakeServer"]()
    server.protocol.connect()
    server.take()
    result = server.protocol.feed(data, 0.0)
    for event in result:
        assert isinstance(event, DOCUMENTED)
    if result:
        assert isinstance(result[-1], events.ConnectionClosed)
        exc = result[-1].exception
        assert isinstance(exc, exceptions.AMQPConnectionError), repr(exc)
        assert not str(exc).startswith("internal error")
