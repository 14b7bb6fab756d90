"""Heartbeats with a fake clock: when frames go out and when the peer counts as dead."""

from __future__ import annotations

import pytest
from fake_amqp_server import FakeServer, method_frame

from pika_core import exceptions, spec
from pika_core.frame import HEARTBEAT_FRAME
from pika_core.protocol import events

HB = b"\x08\x00\x00\x00\x00\x00\x00\xce"


def open_at(t0: float, heartbeat: int) -> FakeServer:
    server = FakeServer()
    server.now = t0
    server.handshake(heartbeat=heartbeat)
    return server


def run_until(server: FakeServer, until: float, peer_sends_every: float = 0.0) -> list:  # type: ignore[type-arg]
    """Drive the protocol like an event loop: tick at every deadline, record what happens.

    Returns [(time, "hb")...] for heartbeat frames written and (time, event) for events. When
    ``peer_sends_every`` is set, a server heartbeat arrives at that period.
    """
    proto = server.protocol
    log = []
    next_peer = server.now + peer_sends_every if peer_sends_every else None
    while True:
        deadline = proto.next_deadline()
        if deadline is None:
            break
        now = deadline if next_peer is None or deadline < next_peer else next_peer
        if now > until:
            break
        server.now = now
        if next_peer is not None and now == next_peer:
            for event in proto.feed(HEARTBEAT_FRAME, now):
                log.append((now, event))
            next_peer += peer_sends_every
            continue
        for event in proto.tick(now):
            log.append((now, event))
        data = proto.data_to_send(now)
        if data:
            assert data == HB
            log.append((now, "hb"))
    return log


def test_heartbeat_frame_bytes() -> None:
    assert HEARTBEAT_FRAME == HB


def test_heartbeats_sent_every_half_interval_while_idle() -> None:
    server = open_at(100.0, heartbeat=10)
    server.take()  # tune-ok/open written at t=100
    log = run_until(server, 140.0, peer_sends_every=5.0)
    assert [t for t, what in log if what == "hb"] == [105.0 + 5 * i for i in range(8)]
    assert not [what for _, what in log if what != "hb"]


def test_writes_postpone_heartbeats() -> None:
    server = open_at(0.0, heartbeat=10)
    server.take()
    proto = server.protocol
    proto.open_channel(1)
    proto.data_to_send(4.0)  # real traffic at t=4
    assert proto.next_deadline() == 9.0
    assert proto.tick(8.9) == []
    assert proto.data_to_send(8.9) == b""
    assert proto.tick(9.0) == []
    assert proto.data_to_send(9.0) == HB


def test_dead_peer_detected_at_two_intervals() -> None:
    server = open_at(50.0, heartbeat=10)
    server.take()
    log = run_until(server, 200.0)
    ((when, closed),) = [(t, e) for t, e in log if e != "hb"]
    assert isinstance(closed, events.ConnectionClosed)
    assert isinstance(closed.exception, exceptions.AMQPHeartbeatTimeout)
    assert when == pytest.approx(70.0)  # last read at 50 + 2 * 10
    assert server.protocol.is_closed and server.protocol.next_deadline() is None


def test_any_inbound_traffic_keeps_the_peer_alive() -> None:
    server = open_at(0.0, heartbeat=10)
    server.take()
    server.protocol.open_channel(1)
    server.protocol.data_to_send(0.0)
    server.now = 15.0
    server.send(method_frame(1, spec.Channel.OpenOk()))
    assert server.protocol.tick(20.0) == []
    assert server.protocol.next_deadline() is not None
    assert server.protocol.next_deadline() <= 35.0
    (closed,) = [e for e in server.protocol.tick(35.0) if isinstance(e, events.ConnectionClosed)]
    assert isinstance(closed.exception, exceptions.AMQPHeartbeatTimeout)


def test_dead_peer_closes_open_channels_first() -> None:
    server = open_at(0.0, heartbeat=5)
    server.open_channel(1)
    result = server.protocol.tick(10.0)
    assert [type(e) for e in result] == [events.ChannelClosed, events.ConnectionClosed]
    assert result[0].exception is result[1].exception


def test_write_without_time_is_stamped_at_next_tick() -> None:
    server = open_at(0.0, heartbeat=10)
    proto = server.protocol
    proto.open_channel(1)
    assert proto.data_to_send()  # drained with no time given
    proto.feed(HEARTBEAT_FRAME, 5.0)
    assert proto.tick(5.0) == []  # the write is stamped now, at 5.0
    assert proto.data_to_send(5.0) == b""
    assert proto.next_deadline() == 10.0


def test_heartbeat_disabled_has_no_deadline() -> None:
    server = open_at(0.0, heartbeat=0)
    assert server.protocol.next_deadline() is None
    assert server.protocol.tick(10**6) == []
    assert server.protocol.data_to_send(10**6) == b""


def test_no_deadline_before_tune() -> None:
    server = FakeServer()
    server.protocol.connect()
    assert server.protocol.next_deadline() is None
    assert server.protocol.tick(1e9) == []
