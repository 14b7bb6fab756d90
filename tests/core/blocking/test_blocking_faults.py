"""Faults against the real broker: long callbacks, blocked connections, killed connections and a
dead peer behind a blackholing proxy."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from blocking_ctl import rabbitmqctl
from tcp_proxy import TcpProxy

from pika_core import exceptions
from pika_core.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika_core.parameters import ConnectionParameters, URLParameters

pytestmark = pytest.mark.broker


def _with(params: URLParameters, **changes: Any) -> ConnectionParameters:
    fresh = ConnectionParameters(host=params.host, port=params.port, credentials=params.credentials)
    for key, value in changes.items():
        setattr(fresh, key, value)
    return fresh


def _broker_name(connection: BlockingConnection) -> str:
    """The connection's name as rabbitmqctl lists it: "client:port -> server:port"."""
    assert connection._pump is not None
    local = connection._pump.sock.getsockname()
    remote = connection._pump.sock.getpeername()
    return f"{local[0]}:{local[1]} -> {remote[0]}:{remote[1]}"


def _broker_pid(connection: BlockingConnection) -> str:
    """The broker's Erlang pid of this connection (what ``rabbitmqctl close_connection`` takes)."""
    wanted = _broker_name(connection)
    for line in rabbitmqctl("list_connections", "pid", "name", "-q").splitlines():
        pid, _tab, listed = line.partition("\t")
        if listed.strip() == wanted:
            return pid.strip()
    raise AssertionError(f"connection {wanted!r} not listed by rabbitmqctl")


def test_long_callback_keeps_the_connection(params: URLParameters, queue: str) -> None:
    conn = BlockingConnection(_with(params, heartbeat=2))
    try:
        channel = conn.channel()
        channel.basic_publish("", queue, b"first")
        channel.basic_publish("", queue, b"second")
        bodies: list[bytes] = []

        def on_message(ch: BlockingChannel, method: Any, _p: Any, body: bytes) -> None:
            bodies.append(body)
            if body == b"first":
                time.sleep(6)  # three heartbeat intervals without returning to pika-core
            ch.basic_ack(method.delivery_tag)
            if len(bodies) == 2:
                ch.stop_consuming()

        channel.basic_consume(queue, on_message)
        channel.start_consuming()
        assert bodies == [b"first", b"second"]
        assert conn.is_open
        # And the connection still works afterwards.
        channel.basic_publish("", queue, b"third")
        for _ in range(50):
            method, _p, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                break
            conn.sleep(0.02)
        assert body == b"third"
    finally:
        if conn.is_open:
            conn.close()


def test_blocked_connection_callbacks_and_timeout(params: URLParameters, queue: str) -> None:
    conn = BlockingConnection(_with(params, blocked_connection_timeout=3))
    events: list[str] = []
    conn.add_on_connection_blocked_callback(lambda c, m: events.append("blocked:" + m.method.NAME))
    conn.add_on_connection_unblocked_callback(lambda c, m: events.append("unblocked"))
    channel = conn.channel()
    try:
        rabbitmqctl("set_vm_memory_high_watermark", "0.0000001")
        started = time.monotonic()
        with pytest.raises(exceptions.ConnectionBlockedTimeout):
            while time.monotonic() - started < 30:
                channel.basic_publish("", queue, b"while blocked")
                conn.process_data_events(time_limit=0.2)
        assert events and events[0] == "blocked:Connection.Blocked"
        assert conn.is_closed
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", "0.4")
    # After the alarm clears a new connection publishes normally.
    with BlockingConnection(params) as fresh:
        fresh.channel().basic_publish("", queue, b"after")


def test_connection_closed_by_broker_raises_promptly(params: URLParameters, queue: str) -> None:
    conn = BlockingConnection(params)
    channel = conn.channel()
    channel.basic_consume(queue, lambda *a: None)
    done_at: list[float] = []

    pid = _broker_pid(conn)

    def kill() -> None:
        try:
            rabbitmqctl("close_connection", pid, "test kill")
            done_at.append(time.monotonic())
        except BaseException:
            # Never leave start_consuming waiting: end it without the expected error.
            conn.add_callback_threadsafe(channel.stop_consuming)
            raise

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(exceptions.ConnectionClosedByBroker) as info:
        channel.start_consuming()
    raised_at = time.monotonic()
    killer.join(60)
    assert info.value.reply_code == 320
    assert "test kill" in info.value.reply_text
    assert done_at and raised_at - done_at[0] < 1.0
    assert conn.is_closed and channel.is_closed
    with pytest.raises(exceptions.ChannelWrongStateError):
        channel.basic_publish("", queue, b"x")


def test_dead_peer_detected_and_confirms_failed(params: URLParameters, queue: str) -> None:
    with TcpProxy((params.host, params.port)) as proxy:
        conn = BlockingConnection(
            ConnectionParameters(
                host="127.0.0.1", port=proxy.port, credentials=params.credentials, heartbeat=1
            )
        )
        channel = conn.channel()
        channel.confirm_delivery(pipelined=True)
        assert channel.basic_publish("", queue, b"before") is not None
        assert channel.wait_for_confirms(timeout=10) is True
        proxy.blackhole()
        lost_at = time.monotonic()
        handles = [channel.basic_publish("", queue, b"into the void") for _ in range(5)]
        with pytest.raises(exceptions.AMQPHeartbeatTimeout):
            channel.wait_for_confirms(timeout=30)
        detected_in = time.monotonic() - lost_at
        assert detected_in <= 2 * 1 + 1.0
        assert all(h is not None and h.done() and not h.acked for h in handles)
        assert all(isinstance(h.exception(), exceptions.AMQPHeartbeatTimeout) for h in handles if h)
        assert conn.is_closed


def test_stream_lost_raises_from_blocking_call(params: URLParameters) -> None:
    with TcpProxy((params.host, params.port)) as proxy:
        conn = BlockingConnection(
            ConnectionParameters(host="127.0.0.1", port=proxy.port, credentials=params.credentials)
        )
        channel = conn.channel()
        conn.call_later(0.2, proxy.close)
        with pytest.raises(exceptions.StreamLostError):
            for _ in range(100):
                conn.process_data_events(time_limit=0.5)
                channel.basic_qos(prefetch_count=1)
        assert conn.is_closed
