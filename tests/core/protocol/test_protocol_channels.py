"""Channels and traffic on an open connection: RPC ordering, content, confirms, closes."""

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
    parse_client,
    raw_frame,
)

from pika_core import exceptions, spec
from pika_core.frame import encode_method, encode_publish
from pika_core.protocol import events
from pika_core.protocol.channel import CLOSING, OPEN, OPENING

DELIVER = spec.Basic.Deliver(
    consumer_tag="ctag1", delivery_tag=7, redelivered=False, exchange="ex", routing_key="rk"
)


# ---- channel open / close -------------------------------------------------------------------


def test_open_channel_bytes_and_event() -> None:
    server = FakeServer()
    server.handshake()
    server.protocol.open_channel(3)
    assert server.take() == encode_method(3, spec.Channel.Open())
    assert server.protocol.channel_state(3) == OPENING
    assert server.send_method(3, spec.Channel.OpenOk()) == [events.ChannelOpened(3)]
    assert server.protocol.channel_state(3) == OPEN


def test_channel_numbers_are_validated() -> None:
    server = FakeServer()
    server.handshake(channel_max=3)
    proto = server.protocol
    assert proto.next_free_channel() == 1
    for bad in (0, 4, -1):
        with pytest.raises(exceptions.InvalidChannelNumber):
            proto.open_channel(bad)
    proto.open_channel(1)
    with pytest.raises(exceptions.InvalidChannelNumber):
        proto.open_channel(1)
    assert proto.next_free_channel() == 2
    proto.open_channel(2)
    proto.open_channel(3)
    with pytest.raises(exceptions.NoFreeChannels):
        proto.next_free_channel()


def test_commands_need_an_open_connection_and_channel() -> None:
    server = FakeServer()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        server.protocol.open_channel(1)
    server.handshake()
    proto = server.protocol
    with pytest.raises(exceptions.ChannelWrongStateError):
        proto.rpc(1, spec.Queue.Declare(queue="q"))
    with pytest.raises(exceptions.ChannelWrongStateError):
        proto.publish(1, "", "q", b"x")
    with pytest.raises(exceptions.ChannelWrongStateError):
        proto.basic_ack(1, 1)
    proto.open_channel(1)
    with pytest.raises(exceptions.ChannelWrongStateError, match="opening"):
        proto.publish(1, "", "q", b"x")
    with pytest.raises(ValueError, match="send_method"):
        proto.rpc(1, spec.Basic.Ack(1))
    with pytest.raises(ValueError):
        proto.rpc(1, spec.Channel.Close(200, "", 0, 0))
    with pytest.raises(ValueError, match="rpc"):
        proto.send_method(1, spec.Queue.Declare(queue="q"))
    with pytest.raises(ValueError, match="publish"):
        proto.send_method(1, spec.Basic.Publish())


def test_client_close_channel_drops_traffic_until_close_ok() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Queue.Declare(queue="a"))
    proto.rpc(1, spec.Queue.Declare(queue="b"))
    server.take()
    proto.close_channel(1, 200, "bye")
    assert server.take() == encode_method(1, spec.Channel.Close(200, "bye", 0, 0))
    assert proto.channel_state(1) == CLOSING
    with pytest.raises(exceptions.ChannelWrongStateError):
        proto.close_channel(1)
    # Replies, deliveries and content on the closing channel are dropped silently.
    assert (
        server.send(
            method_frame(1, spec.Queue.DeclareOk("a", 0, 0)),
            content(1, DELIVER, b"late"),
            method_frame(1, spec.Basic.Ack(1)),
        )
        == []
    )
    assert server.take() == b""
    (closed,) = server.send_method(1, spec.Channel.CloseOk())
    assert closed.channel == 1
    assert isinstance(closed.exception, exceptions.ChannelClosedByClient)
    assert (closed.exception.reply_code, closed.exception.reply_text) == (200, "bye")
    assert [m.queue for m in closed.pending] == ["a", "b"]
    assert proto.channel_state(1) is None
    # The number is free again, and a frame on it now is a channel error.
    assert proto.next_free_channel() == 1
    result = server.send_method(1, spec.Channel.CloseOk())
    assert result[-1].exception.reply_code == 504


def test_broker_close_channel_gets_close_ok_and_reports_pending() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Queue.Declare(queue="missing", passive=True))
    proto.rpc(1, spec.Basic.Qos(prefetch_count=10))
    server.take()
    (closed,) = server.send_method(
        1, spec.Channel.Close(404, "NOT_FOUND - no queue 'missing'", 50, 10)
    )
    assert server.take() == encode_method(1, spec.Channel.CloseOk())
    assert isinstance(closed.exception, exceptions.ChannelClosedByBroker)
    assert closed.exception.reply_code == 404
    assert [m.NAME for m in closed.pending] == ["Queue.Declare", "Basic.Qos"]
    assert proto.channel_state(1) is None
    proto.open_channel(1)  # reusable at once
    assert server.method_names() == [(1, "Channel.Open")]


def test_crossing_channel_closes() -> None:
    server = opened()
    server.protocol.close_channel(1)
    server.take()
    assert server.send_method(1, spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 80)) == []
    assert server.take() == encode_method(1, spec.Channel.CloseOk())
    (closed,) = server.send_method(1, spec.Channel.CloseOk())
    assert isinstance(closed.exception, exceptions.ChannelClosedByBroker)
    assert closed.exception.reply_code == 406


# ---- RPC queueing -----------------------------------------------------------------------------


def test_three_rpcs_only_one_on_the_wire_at_a_time() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Exchange.Declare(exchange="x", type="topic"))
    proto.rpc(1, spec.Queue.Declare(queue="q"))
    proto.rpc(1, spec.Queue.Bind(queue="q", exchange="x", routing_key="k"))
    assert server.method_names() == [(1, "Exchange.Declare")]
    (reply,) = server.send_method(1, spec.Exchange.DeclareOk())
    assert reply.method.NAME == "Exchange.DeclareOk" and reply.request.exchange == "x"
    assert server.method_names() == [(1, "Queue.Declare")]
    (reply,) = server.send_method(1, spec.Queue.DeclareOk("q", 0, 0))
    assert reply == events.RPCReply(1, reply.method, None, None, reply.request)
    assert server.method_names() == [(1, "Queue.Bind")]
    server.send_method(1, spec.Queue.BindOk())
    assert server.take() == b""


def test_nowait_methods_keep_their_place_and_complete_when_written() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Queue.Declare(queue="a"))
    proto.rpc(1, spec.Queue.Bind(queue="a", exchange="x", nowait=True))
    proto.rpc(1, spec.Basic.Qos(prefetch_count=1))
    proto.rpc(1, spec.Queue.Bind(queue="a", exchange="y", nowait=True))
    assert server.method_names() == [(1, "Queue.Declare")]
    server.send_method(1, spec.Queue.DeclareOk("a", 0, 0))
    assert server.method_names() == [(1, "Queue.Bind"), (1, "Basic.Qos")]
    (reply,) = server.send_method(1, spec.Basic.QosOk())
    assert reply.method.NAME == "Basic.QosOk"
    assert server.method_names() == [(1, "Queue.Bind")]


def test_exchange_unbind_is_answered_by_unbind_ok_51() -> None:
    server = opened()
    server.protocol.rpc(1, spec.Exchange.Unbind(destination="d", source="s"))
    server.take()
    (reply,) = server.send_method(1, spec.Exchange.UnbindOk())
    assert reply.method.INDEX == (40 << 16) | 51


def test_unsolicited_reply_is_command_invalid() -> None:
    server = opened()
    result = server.send_method(1, spec.Queue.DeclareOk("q", 0, 0))
    assert result[-1].exception.reply_code == 503
    assert server.close_codes()[0] == 503


def test_wrong_reply_to_pending_rpc_is_command_invalid() -> None:
    server = opened()
    server.protocol.rpc(1, spec.Queue.Declare(queue="q"))
    server.take()
    result = server.send_method(1, spec.Exchange.DeclareOk())
    assert result[-1].exception.reply_code == 503
    assert "Queue.Declare" in result[-1].exception.reply_text


def test_send_method_writes_immediately_even_with_rpcs_queued() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Queue.Declare(queue="a"))
    server.take()
    proto.send_method(1, spec.Basic.RecoverAsync(requeue=True))
    assert server.method_names() == [(1, "Basic.RecoverAsync")]


# ---- content assembly -------------------------------------------------------------------------


def test_delivery_single_frame() -> None:
    server = opened()
    props = spec.BasicProperties(content_type="text/plain", headers={"a": 1})
    (delivery,) = server.send(content(1, DELIVER, b"hello", props))
    assert delivery == events.Delivery(1, delivery.method, delivery.properties, b"hello")
    assert delivery.method.delivery_tag == 7 and delivery.method.consumer_tag == "ctag1"
    assert delivery.properties.content_type == "text/plain"
    assert delivery.properties.headers == {"a": 1}


def test_delivery_multi_frame_body_across_feeds() -> None:
    server = opened()
    body = bytes(range(256)) * 100
    data = content(1, DELIVER, body, chunk=4000)
    got = []
    for start in range(0, len(data), 777):  # arbitrary split points
        got.extend(server.send(data[start : start + 777]))
    assert [type(e) for e in got] == [events.Delivery]
    assert got[0].body == body
    assert server.protocol.inbound_buffered == 0


def test_empty_body_completes_at_the_header() -> None:
    server = opened()
    result = server.send(method_frame(1, DELIVER), header_frame(1, 0))
    assert len(result) == 1 and result[0].body == b""
    # A body frame now is out of sequence.
    result = server.send(body_frame(1, b""))
    assert result[-1].exception.reply_code == 505


def test_interleaved_content_on_two_channels() -> None:
    server = opened()
    server.open_channel(2)
    d2 = spec.Basic.Deliver("c2", 1, False, "", "q2")
    result = server.send(
        method_frame(1, DELIVER),
        method_frame(2, d2),
        header_frame(2, 3),
        header_frame(1, 4),
        body_frame(1, b"on"),
        body_frame(2, b"two"),
        body_frame(1, b"e!"),
    )
    assert [(e.channel, e.body) for e in result] == [(2, b"two"), (1, b"one!")]


def test_basic_get_ok_and_get_empty() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Basic.Get(queue="q"))
    proto.rpc(1, spec.Basic.Get(queue="q"))
    assert server.method_names() == [(1, "Basic.Get")]
    get_ok = spec.Basic.GetOk(delivery_tag=1, exchange="", routing_key="q", message_count=0)
    result = server.send(method_frame(1, get_ok), header_frame(1, 5))
    assert result == []
    assert server.take() == b""  # the next Get waits for the whole message
    (reply,) = server.send(body_frame(1, b"hello"))
    assert isinstance(reply, events.RPCReply)
    assert reply.method.NAME == "Basic.GetOk" and reply.body == b"hello"
    assert reply.properties is not None and reply.request.queue == "q"
    assert server.method_names() == [(1, "Basic.Get")]
    (empty,) = server.send_method(1, spec.Basic.GetEmpty())
    assert empty == events.RPCReply(1, empty.method, None, None, empty.request)


def test_get_ok_without_a_get_is_command_invalid() -> None:
    server = opened()
    result = server.send(content(1, spec.Basic.GetOk(1, False, "", "q", 0), b"x"))
    assert result[-1].exception.reply_code == 503


def test_basic_return_then_ack_in_confirm_mode() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Confirm.Select())
    server.take()
    server.send_method(1, spec.Confirm.SelectOk())
    seq = proto.publish(1, "ex", "nowhere", b"lost", mandatory=True)
    assert seq == 1
    returned = spec.Basic.Return(312, "NO_ROUTE", "ex", "nowhere")
    result = server.send(content(1, returned, b"lost"), method_frame(1, spec.Basic.Ack(1)))
    assert isinstance(result[0], events.Returned)
    assert result[0].method.reply_code == 312 and result[0].body == b"lost"
    assert result[1] == events.Confirmation(1, result[1].method)


# ---- publish and acks ---------------------------------------------------------------------------


def test_publish_bytes_are_one_encode_publish() -> None:
    server = opened(server_frame_max=4096)
    proto = server.protocol
    props = spec.BasicProperties(delivery_mode=2)
    body = b"z" * 10000
    assert proto.publish(1, "ex", "rk", body, props, mandatory=True) == 0
    assert proto.outbound_size == len(encode_publish(1, "ex", "rk", body, props, True, 4096))
    data = server.take()
    assert data == encode_publish(1, "ex", "rk", body, props, True, 4096)
    frames = parse_client(data)
    assert [kind for kind, _, _ in frames] == ["method", "header", "body", "body", "body"]
    assert all(len(value) <= 4096 - 8 for kind, _, value in frames if kind == "body")
    assert proto.outbound_size == 0


def test_ack_nack_reject_fast_paths_are_exact_frames() -> None:
    server = opened()
    proto = server.protocol
    proto.basic_ack(1, 5)
    proto.basic_ack(1, 9, multiple=True)
    proto.basic_nack(1, 10, multiple=True, requeue=False)
    proto.basic_nack(1, 11)
    proto.basic_reject(1, 12, requeue=False)
    proto.basic_reject(1, 13)
    head = b"\x01\x00\x01\x00\x00\x00\x0d"
    expected = b"".join(
        head + struct.pack(">HHQB", 60, method_id, tag, bits) + b"\xce"
        for method_id, tag, bits in [
            (80, 5, 0),
            (80, 9, 1),
            (120, 10, 1),
            (120, 11, 2),
            (90, 12, 0),
            (90, 13, 1),
        ]
    )
    assert server.take() == expected
    # and they are the codec's encodings of the same methods
    assert parse_client(expected)[2][2].requeue is False
    with pytest.raises(ValueError):
        proto.basic_ack(1, -1)


# ---- confirms ------------------------------------------------------------------------------------


def test_confirm_numbering_starts_when_select_is_written() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Queue.Declare(queue="q"))
    proto.rpc(1, spec.Confirm.Select())
    assert proto.publish(1, "", "q", b"before") == 0  # select still queued: not counted
    assert not proto.confirm_mode(1)
    server.take()
    server.send_method(1, spec.Queue.DeclareOk("q", 0, 0))
    assert proto.confirm_mode(1)
    assert server.method_names() == [(1, "Confirm.Select")]
    assert [proto.publish(1, "", "q", b"m") for _ in range(3)] == [1, 2, 3]
    (select_ok,) = server.send_method(1, spec.Confirm.SelectOk())
    assert select_ok.method.NAME == "Confirm.SelectOk"
    result = server.send(
        method_frame(1, spec.Basic.Ack(1, False)),
        method_frame(1, spec.Basic.Nack(3, True, False)),
    )
    assert [(e.method.NAME, e.method.delivery_tag, e.method.multiple) for e in result] == [
        ("Basic.Ack", 1, False),
        ("Basic.Nack", 3, True),
    ]
    # a second select does not restart the numbering
    proto.rpc(1, spec.Confirm.Select(nowait=True))
    assert proto.publish(1, "", "q", b"m") == 4


def test_ack_for_unpublished_tag_or_outside_confirm_mode_is_503() -> None:
    server = opened()
    result = server.send_method(1, spec.Basic.Ack(1))
    assert result[-1].exception.reply_code == 503
    server = opened()
    server.protocol.rpc(1, spec.Confirm.Select(nowait=True))
    server.protocol.publish(1, "", "q", b"m")
    result = server.send_method(1, spec.Basic.Ack(2))
    assert result[-1].exception.reply_code == 503


# ---- broker-initiated channel events ------------------------------------------------------------


def test_server_cancel_notification() -> None:
    server = opened()
    (cancelled,) = server.send_method(1, spec.Basic.Cancel(consumer_tag="ctag1", nowait=True))
    assert cancelled == events.ConsumerCancelled(1, "ctag1")
    assert server.take() == b""
    server.send_method(1, spec.Basic.Cancel(consumer_tag="ctag2", nowait=False))
    assert server.take() == encode_method(1, spec.Basic.CancelOk(consumer_tag="ctag2"))


def test_flow_from_server_is_answered() -> None:
    server = opened()
    assert server.send_method(1, spec.Channel.Flow(active=False)) == [events.FlowChanged(1, False)]
    assert server.take() == encode_method(1, spec.Channel.FlowOk(active=False))
    assert server.send_method(1, spec.Channel.Flow(active=True)) == [events.FlowChanged(1, True)]


def test_flow_from_client_is_an_rpc() -> None:
    server = opened()
    server.protocol.rpc(1, spec.Channel.Flow(active=False))
    server.take()
    (reply,) = server.send_method(1, spec.Channel.FlowOk(active=False))
    assert reply.method.NAME == "Channel.FlowOk"


# ---- connection-level events --------------------------------------------------------------------


def test_blocked_and_unblocked() -> None:
    server = opened()
    assert server.send_method(0, spec.Connection.Blocked(reason="low on memory")) == [
        events.ConnectionBlocked("low on memory")
    ]
    assert server.protocol.blocked
    assert server.send_method(0, spec.Connection.Unblocked()) == [events.ConnectionUnblocked()]
    assert not server.protocol.blocked


def test_update_secret_round_trip() -> None:
    server = opened()
    server.protocol.update_secret(b"new-token", "token refresh")
    server.protocol.update_secret(b"newer-token", "again")
    ((channel, method),) = server.methods()
    assert channel == 0 and method.NAME == "Connection.UpdateSecret"
    assert bytes(method.new_secret) == b"new-token" and method.reason == "token refresh"
    (reply,) = server.send_method(0, spec.Connection.UpdateSecretOk())
    assert reply.channel == 0 and reply.method.NAME == "Connection.UpdateSecretOk"
    assert [m.reason for _, m in server.methods()] == ["again"]


def test_client_close() -> None:
    server = opened()
    server.open_channel(2)
    proto = server.protocol
    assert proto.close(320, "shutting down") == []
    assert server.take() == encode_method(0, spec.Connection.Close(320, "shutting down", 0, 0))
    assert proto.is_closing
    with pytest.raises(exceptions.ConnectionWrongStateError):
        proto.close()
    with pytest.raises(exceptions.ConnectionWrongStateError):
        proto.publish(1, "", "q", b"x")
    # everything but close-ok is ignored now, even garbage-free traffic on channels
    assert (
        server.send(content(1, DELIVER, b"x"), method_frame(0, spec.Connection.Blocked("m"))) == []
    )
    result = server.send_method(0, spec.Connection.CloseOk())
    assert [type(e) for e in result] == [
        events.ChannelClosed,
        events.ChannelClosed,
        events.ConnectionClosed,
    ]
    exc = result[-1].exception
    assert isinstance(exc, exceptions.ConnectionClosedByClient)
    assert (exc.reply_code, exc.reply_text) == (320, "shutting down")
    assert all(e.exception is exc for e in result)
    assert proto.is_closed and proto.next_deadline() is None


def test_broker_close_during_client_close() -> None:
    server = opened()
    server.protocol.close()
    server.take()
    result = server.send_method(0, spec.Connection.Close(320, "CONNECTION_FORCED", 0, 0))
    assert server.take() == encode_method(0, spec.Connection.CloseOk())
    assert isinstance(result[-1].exception, exceptions.ConnectionClosedByBroker)


def test_stream_lost_while_closing_counts_as_closed_by_client() -> None:
    server = opened()
    server.protocol.close()
    result = server.protocol.connection_lost(None, 1.0)
    assert isinstance(result[-1].exception, exceptions.ConnectionClosedByClient)


def test_broker_close() -> None:
    server = opened()
    server.open_channel(2)
    server.protocol.rpc(2, spec.Queue.Declare(queue="q"))
    server.take()
    result = server.send_method(
        0, spec.Connection.Close(320, "CONNECTION_FORCED - broker shutdown", 0, 0)
    )
    assert server.take() == encode_method(0, spec.Connection.CloseOk())
    assert [(type(e), getattr(e, "channel", None)) for e in result] == [
        (events.ChannelClosed, 1),
        (events.ChannelClosed, 2),
        (events.ConnectionClosed, None),
    ]
    exc = result[-1].exception
    assert isinstance(exc, exceptions.ConnectionClosedByBroker) and exc.reply_code == 320
    assert [m.NAME for m in result[1].pending] == ["Queue.Declare"]
    assert server.send_method(1, spec.Channel.OpenOk()) == []  # ignored after the end
    assert server.protocol.tick(10**9) == []


def test_a_confirm_read_together_with_a_bad_frame_is_still_reported() -> None:
    server = opened()
    proto = server.protocol
    proto.rpc(1, spec.Confirm.Select())
    server.take()
    server.send_method(1, spec.Confirm.SelectOk())
    assert proto.publish(1, "", "q", b"m") == 1
    server.take()
    bad_end = raw_frame(8, 0, b"", end=0x00)
    result = server.send(method_frame(1, spec.Basic.Ack(1, False)) + bad_end)
    assert isinstance(result[0], events.Confirmation)
    assert result[0].method.delivery_tag == 1
    assert isinstance(result[-1], events.ConnectionClosed)
    assert result[-1].exception.reply_code == 501
    assert server.close_codes()[0] == 501


def test_a_large_body_goes_out_as_views_through_buffers_to_send() -> None:

    body = bytes(range(256)) * 4096  # 1 MiB: eight frames at frame_max 131072
    sender = opened()
    sender.protocol.basic_ack(1, 7)  # a small frame queued before it
    sender.protocol.publish(1, "", "q", body)
    size = sender.protocol.outbound_size
    before = sender.protocol.bytes_sent
    buffers = sender.protocol.buffers_to_send(1.0)
    assert any(isinstance(b, memoryview) and b.obj is body for b in buffers)
    expected = encode_method(1, spec.Basic.Ack(7, False)) + encode_publish(
        1, "", "q", body, None, False, 131072
    )
    assert b"".join(buffers) == expected and len(expected) == size
    assert sender.protocol.bytes_sent - before == size
    assert sender.protocol.outbound_size == 0 and sender.protocol.buffers_to_send() == []
    # data_to_send gives the same bytes in one piece.
    joined = opened()
    joined.protocol.basic_ack(1, 7)
    joined.protocol.publish(1, "", "q", body)
    assert joined.protocol.data_to_send() == expected
    # A mutable body is copied at publish time, never queued as a view.
    mutable = opened()
    data = bytearray(body)
    mutable.protocol.publish(1, "", "q", data)
    data[:4] = b"XXXX"
    assert b"".join(mutable.protocol.buffers_to_send()) == encode_publish(
        1, "", "q", body, None, False, 131072
    )
